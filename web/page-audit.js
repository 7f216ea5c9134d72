// page-audit.js (#/audit, admins): the audit log of every change (GET /devicehub/audit), newest first,
// filtered by who, action, since and until, paged with the server's continuation tokens. The filters live
// in the hash (#/audit?who=admin&action=...) so a filtered view can be linked.

import {h, pageRoot, table, setRows, formatTime, field, hashWith} from './ui.js';
import {allowed} from './ops.js';

const PAGE = 50;

// datetime-local value ↔ ISO (the input shows local time; the server takes UTC ISO-8601).
function toIso(local) {
  if (!local) return '';
  const t = new Date(local);
  return Number.isNaN(t.getTime()) ? '' : t.toISOString();
}
function toLocal(iso) {
  const t = Date.parse(iso || '');
  if (Number.isNaN(t)) return '';
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

export async function render(root, ctx) {
  const {api} = ctx;
  pageRoot(root, 'audit', 'Audit log');
  if (!allowed(ctx, 'admin')) {
    root.append(h('p', {class: 'notice', testid: 'audit-refused'}, `The audit log is for admins; you are signed in as ${ctx.session.role}.`));
    return;
  }
  const p = ctx.params;
  const who = field('Who', 'who', {value: p.who || '', attrs: {placeholder: 'admin, policy:iothubowner, device:d1', testid: 'audit-who'}});
  const action = field('Action', 'action', {value: p.action || '', attrs: {placeholder: 'PUT /devices/{}', testid: 'audit-action'}});
  const since = field('Since (local time)', 'since', {type: 'datetime-local', value: toLocal(p.since), attrs: {testid: 'audit-since'}});
  const until = field('Until (local time)', 'until', {type: 'datetime-local', value: toLocal(p.until), attrs: {testid: 'audit-until'}});
  const form = h('form', {class: 'panel filters', role: 'search', 'aria-label': 'Filter the audit log'},
    who, action, since, until,
    h('div', {class: 'form-actions'}, h('button', {type: 'submit', class: 'primary', testid: 'audit-apply'}, 'Apply'),
      h('button', {type: 'button', testid: 'audit-clear', onclick: () => ctx.navigate('#/audit')}, 'Clear')));
  root.append(form);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = (n) => form.elements.namedItem(n).value.trim();
    ctx.navigate(hashWith('/audit', {who: v('who'), action: v('action'), since: toIso(v('since')), until: toIso(v('until'))}));
  });

  const columns = [
    {label: 'Time', render: (r) => h('time', {datetime: r.time, title: r.time}, formatTime(r.time))},
    {label: 'Who', render: (r) => h('span', {class: 'wrap-anywhere'}, r.who)},
    {label: 'Action', render: (r) => h('code', {}, r.action)},
    {label: 'Path', class: 'wrap-anywhere', render: (r) => h('code', {}, r.path)},
    {label: 'Status', render: (r) => h('span', {class: `badge ${r.status >= 400 ? 'bad' : 'ok'}`}, String(r.status))},
    {label: 'From', render: (r) => r.from},
  ];
  const rowAttrs = (r) => ({dataset: {testid: 'audit-row', action: r.action, who: r.who, status: String(r.status)}});
  const tableEl = table(columns, [], {caption: 'Audit entries, newest first', state: 'loading', rowAttrs});
  tableEl.querySelector('table').classList.add('cards');
  const info = h('p', {class: 'muted', role: 'status', testid: 'audit-page'});
  const newer = h('button', {type: 'button', class: 'small', testid: 'audit-newer'}, 'Newer');
  const older = h('button', {type: 'button', class: 'small', testid: 'audit-older'}, 'Older');
  root.append(tableEl, h('div', {class: 'pager'}, info, newer, older));

  const tokens = [null];
  let index = 0;
  let seq = 0;
  async function load(i) {
    const mine = ++seq;
    const q = new URLSearchParams({top: String(PAGE)});
    for (const k of ['who', 'action', 'since', 'until']) if (p[k]) q.set(k, p[k]);
    if (tokens[i]) q.set('continuationToken', tokens[i]);
    setRows(tableEl, columns, [], {state: 'loading'});
    try {
      const r = await api.get(`/devicehub/audit?${q}`);
      if (mine !== seq) return;
      index = i;
      tokens[i + 1] = r.continuationToken || null;
      const items = r.items || [];
      const filtered = ['who', 'action', 'since', 'until'].some((k) => p[k]);
      setRows(tableEl, columns, items, {rowAttrs, empty: filtered ? 'No entry matches these filters.' : 'No changes recorded yet.'});
      info.textContent = items.length ? `Entries ${i * PAGE + 1}–${i * PAGE + items.length}` : '';
      newer.disabled = i === 0;
      older.disabled = !r.continuationToken;
    } catch (e) {
      if (mine !== seq) return;
      setRows(tableEl, columns, [], {state: 'error', error: e, retry: () => load(index)});
    }
  }
  newer.addEventListener('click', () => load(Math.max(0, index - 1)));
  older.addEventListener('click', () => load(index + 1));
  await load(0);
  return () => { seq++; };
}
