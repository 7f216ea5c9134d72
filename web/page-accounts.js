// page-accounts.js (#/accounts, admins): operator accounts: list, create (name, role, password), change
// a role, reset a password, delete (the server refuses to delete the last admin; its message is shown).

import {h, pageRoot, table, setRows, timeEl, field, confirmDialog, formDialog} from './ui.js';
import {enc} from './api.js';
import {allowed, errorText, showFormError, clearFormError} from './ops.js';

const ROLES = [['viewer', 'Viewer: reads everything but keys'], ['operator', 'Operator: also twins, methods, jobs, configurations'],
  ['admin', 'Admin: also identities, keys, policies, accounts, audit']];

export async function render(root, ctx) {
  const {api, session} = ctx;
  pageRoot(root, 'accounts', 'Accounts');
  if (!allowed(ctx, 'admin')) {
    root.append(h('p', {class: 'notice', testid: 'accounts-refused'}, `Accounts are managed by admins; you are signed in as ${session.role}.`));
    return;
  }

  // --- Create
  const errBox = h('div', {class: 'notice bad', role: 'alert', hidden: true, testid: 'account-form-error'});
  const nameF = field('Name', 'name', {attrs: {required: true, autocomplete: 'off', testid: 'account-name', maxlength: 64}});
  const roleF = field('Role', 'role', {type: 'select', options: ROLES, value: 'viewer', attrs: {testid: 'account-role'}});
  const passF = field('Password', 'password', {type: 'password', attrs: {required: true, minlength: 12, autocomplete: 'new-password', testid: 'account-password'},
    hint: 'At least 12 characters.'});
  const form = h('form', {class: 'panel', novalidate: true, 'aria-labelledby': 'acc-new-h', testid: 'account-form'},
    h('h2', {id: 'acc-new-h'}, 'New account'), h('div', {class: 'form-row'}, nameF, roleF, passF), errBox,
    h('div', {class: 'form-actions'}, h('button', {type: 'submit', class: 'primary', testid: 'account-create'}, 'Create account')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(errBox);
    const name = form.elements.namedItem('name').value.trim();
    const role = form.elements.namedItem('role').value;
    const password = form.elements.namedItem('password').value;
    const fields = [[/password/i, passF], [/role/i, roleF], [/name|account|exists/i, nameF]];
    try {
      if (!name) throw new Error('name: give the account a name');
      if (password.length < 12) throw new Error('password: at least 12 characters');
      if (accounts.some((a) => a.name === name)) throw new Error(`name: an account named ${name} exists; change its role in the list`);
      await api.put(`/devicehub/accounts/${enc(name)}`, {role, password});
      ctx.toast(`Account ${name} created (${role})`, 'ok');
      form.reset();
      load();
    } catch (err) {
      showFormError(errBox, err, fields);
    }
  });

  // --- List
  let accounts = [];
  const columns = [
    {label: 'Name', render: (a) => h('span', {}, a.name, a.name === session.name ? h('span', {class: 'muted'}, ' (you)') : null)},
    {label: 'Role', render: (a) => {
      const sel = h('select', {'aria-label': `Role of ${a.name}`, dataset: {testid: 'account-role-select'}},
        ROLES.map(([v]) => h('option', {value: v}, v)));
      sel.value = a.role;
      sel.addEventListener('change', () => changeRole(a, sel));
      return sel;
    }},
    {label: 'Created', render: (a) => timeEl(a.createdTime)},
    {label: 'Last login', render: (a) => timeEl(a.lastLoginTime)},
    {label: 'Actions', render: (a) => h('span', {class: 'toolbar'},
      h('button', {type: 'button', class: 'small', dataset: {testid: 'account-reset'}, 'aria-label': `Reset the password of ${a.name}`, onclick: () => resetPassword(a)}, 'Reset password'),
      h('button', {type: 'button', class: 'small danger', dataset: {testid: 'account-delete'}, 'aria-label': `Delete ${a.name}`, onclick: () => remove(a)}, 'Delete'))},
  ];
  const rowAttrs = (a) => ({dataset: {testid: 'account-row', name: a.name, role: a.role}});
  const tableEl = table(columns, [], {caption: 'Accounts', state: 'loading', rowAttrs});
  tableEl.querySelector('table').classList.add('cards');
  root.append(h('section', {class: 'panel', 'aria-labelledby': 'acc-list-h'}, h('h2', {id: 'acc-list-h'}, 'All accounts'), tableEl), form);

  async function load() {
    try {
      const list = await api.get('/devicehub/accounts');
      accounts = (Array.isArray(list) ? list : []).sort((a, b) => a.name.localeCompare(b.name));
      setRows(tableEl, columns, accounts, {rowAttrs, empty: 'No accounts.'});
    } catch (e) {
      setRows(tableEl, columns, [], {state: 'error', error: e, retry: load});
    }
  }

  async function changeRole(a, sel) {
    const role = sel.value;
    const ok = await confirmDialog({title: `Make ${a.name} ${role === 'admin' ? 'an' : 'a'} ${role}?`, confirmLabel: 'Change role',
      message: a.name === session.name ? 'This is your own account: you may lose access to this page.' : `${a.name} is ${a.role} now.`});
    if (!ok) { sel.value = a.role; return; }
    try {
      await api.put(`/devicehub/accounts/${enc(a.name)}`, {role});
      ctx.toast(`${a.name} is now ${role}`, 'ok');
    } catch (e) {
      ctx.toast(`Could not change the role of ${a.name}: ${errorText(e)}`, 'error');
    }
    load();
  }

  async function resetPassword(a) {
    await formDialog({
      title: `Reset the password of ${a.name}`, submitLabel: 'Set password', testid: 'reset-dialog',
      fields: [
        h('p', {}, `${a.name}'s sessions end; tell them the new password through a safe channel.`),
        field('New password (at least 12 characters)', 'password', {type: 'password', attrs: {required: true, minlength: 12, autocomplete: 'new-password', testid: 'reset-password'}}),
      ],
      onSubmit: async (fd) => {
        const password = fd.get('password');
        if (password.length < 12) throw new Error('At least 12 characters.');
        await api.put(`/devicehub/accounts/${enc(a.name)}/password`, {password});
        ctx.toast(`Password of ${a.name} reset`, 'ok');
        return true;
      },
    });
  }

  async function remove(a) {
    const ok = await confirmDialog({title: `Delete account ${a.name}?`, danger: true, confirmLabel: 'Delete',
      message: `${a.name} can no longer sign in; their sessions end. The audit log keeps their entries.`});
    if (!ok) return;
    try {
      await api.del(`/devicehub/accounts/${enc(a.name)}`);
      ctx.toast(`Account ${a.name} deleted`, 'ok');
    } catch (e) {
      ctx.toast(`Could not delete ${a.name}: ${errorText(e)}`, 'error');
    }
    load();
  }

  await load();
}
