// page-enrollments.js (#/enrollments): how devices provision themselves (docs/lifecycle.md). Enrollment
// groups (GET/PUT/DELETE /devicehub/enrollment-groups) and individual enrollments (/devicehub/enrollments)
// with their status and initial twin; admins create them, enable or disable them, show a key (hidden until
// asked: a group key derives every member's device key) and delete them. Below, the latest registrations
// (GET /devicehub/registrations, filtered by group through the hash: #/enrollments?group=g1), kept current
// by the device.created events that self-registrations publish. Keys never reach other roles (the server
// strips them).

import {h, pageRoot, table, setRows, timeEl, field, formDialog, confirmDialog, copyButton, statusBadge,
  throttle, hashWith} from './ui.js';
import {allowed, jsonField, errorText} from './ops.js';

const enc = encodeURIComponent;
const KINDS = {
  group: {path: '/devicehub/enrollment-groups', idKey: 'enrollmentGroupId', noun: 'enrollment group', testid: 'group'},
  individual: {path: '/devicehub/enrollments', idKey: 'registrationId', noun: 'individual enrollment', testid: 'individual'},
};

function initialTwinText(e) {
  const t = e.initialTwin || {};
  const parts = [];
  if (t.tags && Object.keys(t.tags).length) parts.push(`tags ${JSON.stringify(t.tags)}`);
  const d = t.properties && t.properties.desired;
  if (d && Object.keys(d).length) parts.push(`desired ${JSON.stringify(d)}`);
  return parts.length ? h('code', {class: 'wrap-anywhere'}, parts.join(' · ')) : h('span', {class: 'muted'}, 'none');
}

export async function render(root, ctx) {
  const {api, events, toast} = ctx;
  const isAdmin = allowed(ctx, 'admin');
  const group = ctx.params.group || '';
  let gone = false;
  pageRoot(root, 'enrollments', 'Enrollments',
    isAdmin ? h('button', {type: 'button', class: 'primary', testid: 'new-group', onclick: () => create('group')}, 'New enrollment group') : null,
    isAdmin ? h('button', {type: 'button', testid: 'new-individual', onclick: () => create('individual')}, 'New individual enrollment') : null);
  root.append(h('p', {class: 'muted'}, 'A device of an enrollment group connects with a key derived from the group key, ',
    h('code', {}, 'base64(HMAC-SHA256(groupKey, deviceId))'), ', and registers itself on its first connect with the group\'s initial twin.'));

  // --- the two enrollment tables
  const shown = new Set(); // ids whose key is shown
  const lists = {group: [], individual: []};
  const tables = {};
  for (const [kind, k] of Object.entries(KINDS)) {
    const columns = [
      {label: kind === 'group' ? 'Group' : 'Registration id', render: (e) => (kind === 'group'
        ? h('a', {href: hashWith('/enrollments', {group: e[k.idKey]}), class: 'nowrap'}, e[k.idKey])
        : h('a', {href: `#/devices/${enc(e[k.idKey])}`, class: 'nowrap'}, e[k.idKey]))},
      {label: 'Status', render: (e) => statusBadge(e.provisioningStatus)},
      {label: 'Initial twin', render: initialTwinText},
      {label: 'Created', render: (e) => timeEl(e.createdDateTimeUtc)},
    ];
    if (isAdmin) columns.push({label: 'Actions', render: (e) => actions(kind, e)});
    const rowAttrs = (e) => ({dataset: {testid: `${k.testid}-row`, id: e[k.idKey], status: e.provisioningStatus}});
    tables[kind] = {columns, rowAttrs, el: table(columns, [], {caption: kind === 'group' ? 'Enrollment groups' : 'Individual enrollments', state: 'loading', rowAttrs})};
    root.append(h('section', {class: 'panel', 'aria-labelledby': `${kind}-h`},
      h('h2', {id: `${kind}-h`}, kind === 'group' ? 'Enrollment groups' : 'Individual enrollments'), tables[kind].el));
  }

  function actions(kind, e) {
    const k = KINDS[kind];
    const id = e[k.idKey];
    const key = e.attestation && e.attestation.symmetricKey && e.attestation.symmetricKey.primaryKey;
    const on = e.provisioningStatus === 'enabled';
    const open = shown.has(`${kind}:${id}`);
    return h('div', {},
      h('div', {class: 'toolbar'},
        key ? h('button', {type: 'button', class: 'small', testid: `${k.testid}-toggle-key`, 'aria-pressed': String(open),
          onclick: () => { if (open) shown.delete(`${kind}:${id}`); else shown.add(`${kind}:${id}`); draw(kind); }}, open ? 'Hide key' : 'Show key') : null,
        h('button', {type: 'button', class: 'small', testid: `${k.testid}-toggle-status`, onclick: () => setStatus(kind, e, on ? 'disabled' : 'enabled')}, on ? 'Disable' : 'Enable'),
        h('button', {type: 'button', class: 'small danger', testid: `${k.testid}-delete`, onclick: () => remove(kind, id)}, 'Delete')),
      key && open ? h('p', {}, h('code', {class: 'secret wrap-anywhere', dataset: {testid: `${k.testid}-key`}}, key), ' ', copyButton(key, toast, 'Copy')) : null);
  }

  function draw(kind) {
    const t = tables[kind];
    setRows(t.el, t.columns, lists[kind], {rowAttrs: t.rowAttrs,
      empty: kind === 'group' ? 'No enrollment groups. Devices can only be created in the registry.' : 'No individual enrollments.'});
  }

  const seqs = {group: 0, individual: 0};
  async function load(kind) {
    const mine = ++seqs[kind];
    try {
      const list = await api.get(KINDS[kind].path);
      if (gone || mine !== seqs[kind]) return;
      lists[kind] = Array.isArray(list) ? list : [];
      draw(kind);
    } catch (e) {
      if (gone || mine !== seqs[kind]) return;
      setRows(tables[kind].el, tables[kind].columns, [], {state: 'error', error: e, retry: () => load(kind)});
    }
  }

  async function create(kind) {
    const k = KINDS[kind];
    const tags = jsonField('Initial tags (JSON, optional)', 'tags', {testid: 'enroll-tags', placeholder: '{"site": "north"}'});
    const desired = jsonField('Initial desired properties (JSON, optional)', 'desired', {testid: 'enroll-desired', placeholder: '{"interval": 30}'});
    const done = await formDialog({
      title: `New ${k.noun}`, submitLabel: 'Create', testid: 'enroll-dialog',
      fields: [
        field(kind === 'group' ? 'Group id' : 'Registration id (the device id)', 'id', {attrs: {required: true, maxlength: 128, autocomplete: 'off', testid: 'enroll-id'}}),
        field('Status', 'status', {type: 'select', options: [['enabled', 'enabled'], ['disabled', 'disabled']], attrs: {testid: 'enroll-status'}}),
        tags.el, desired.el,
        h('p', {class: 'muted'}, 'Keys are generated by the hub (32 random bytes each); admins can show them afterwards.'),
      ],
      onSubmit: async (fd) => {
        const id = String(fd.get('id')).trim();
        const initialTwin = {};
        const t = tags.value();
        const d = desired.value();
        if (t !== undefined) initialTwin.tags = t;
        if (d !== undefined) initialTwin.properties = {desired: d};
        if (lists[kind].some((e) => e[k.idKey] === id)) throw new Error(`${id} exists already: edit it instead.`);
        return api.put(`${k.path}/${enc(id)}`, {provisioningStatus: fd.get('status'), initialTwin});
      },
    });
    if (!done) return;
    toast(`${k.noun[0].toUpperCase()}${k.noun.slice(1)} ${done[k.idKey]} created`, 'ok');
    load(kind);
  }

  async function setStatus(kind, e, status) {
    const k = KINDS[kind];
    const id = e[k.idKey];
    if (status === 'disabled' && !await confirmDialog({title: `Disable ${id}?`, confirmLabel: 'Disable', danger: true,
      message: 'New registrations through it are refused. Devices already registered keep working: disable or retire them in the registry.'})) return;
    try {
      // Keys left out are kept (docs/lifecycle.md), so this changes the status and nothing else.
      await api.put(`${k.path}/${enc(id)}`, {provisioningStatus: status, initialTwin: e.initialTwin || {}});
      toast(`${id} ${status}`, 'ok');
    } catch (err) {
      toast(`Could not change ${id}: ${errorText(err)}`, 'error');
    }
    load(kind);
  }

  async function remove(kind, id) {
    const k = KINDS[kind];
    if (!await confirmDialog({title: `Delete ${id}?`, confirmLabel: 'Delete', danger: true,
      message: `The ${k.noun} is removed: devices that have not registered yet can no longer do so. Registered devices stay in the registry.`})) return;
    try {
      await api.del(`${k.path}/${enc(id)}`);
      toast(`${id} deleted`, 'ok');
    } catch (err) {
      toast(`Could not delete ${id}: ${errorText(err)}`, 'error');
    }
    load(kind);
  }

  // --- registrations
  const regColumns = [
    {label: 'Device', render: (r) => h('a', {href: `#/devices/${enc(r.deviceId)}`}, r.deviceId)},
    {label: 'Through', render: (r) => (r.enrollmentGroupId ? `group ${r.enrollmentGroupId}` : 'individual enrollment')},
    {label: 'Registered', render: (r) => timeEl(r.createdTime)},
    {label: 'From', render: (r) => r.sourceAddress},
  ];
  const regAttrs = (r) => ({dataset: {testid: 'registration-row', deviceId: r.deviceId}});
  const regTable = table(regColumns, [], {caption: 'Registrations, newest first', state: 'loading', rowAttrs: regAttrs});
  root.append(h('section', {class: 'panel', 'aria-labelledby': 'reg-h'},
    h('div', {class: 'panel-head'}, h('h2', {id: 'reg-h'}, group ? `Registrations through group ${group}` : 'Latest registrations'),
      group ? h('a', {href: '#/enrollments', testid: 'registrations-all'}, 'All registrations') : null),
    regTable));
  let regSeq = 0;
  async function loadRegistrations() {
    const mine = ++regSeq;
    try {
      const list = await api.get(`/devicehub/registrations${group ? `?group=${enc(group)}` : ''}`);
      if (gone || mine !== regSeq) return;
      setRows(regTable, regColumns, (Array.isArray(list) ? list : []).slice(0, 100), {rowAttrs: regAttrs,
        empty: group ? 'No device has registered through this group yet.' : 'No device has registered itself yet.'});
    } catch (e) {
      if (gone || mine !== regSeq) return;
      setRows(regTable, regColumns, [], {state: 'error', error: e, retry: loadRegistrations});
    }
  }

  // Live: self-registrations publish device.created with source "enrollment". Subscribed before the first
  // load; loadRegistrations keeps only its latest answer.
  const refetch = throttle(loadRegistrations, 1000);
  const off = events.on('device.created', (ev) => { if (ev.source === 'enrollment') refetch(); });
  await Promise.all([load('group'), load('individual'), loadRegistrations()]);
  return () => {
    gone = true;
    refetch.cancel();
    off();
  };
}
