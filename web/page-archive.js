// page-archive.js: retired devices (docs/lifecycle.md). #/archive lists the archive in retirement order
// (GET /devicehub/archive, filtered by device id and reason, paged with top/skip; the filters live in the
// hash so a view can be linked); #/archive/<id> shows a retired device's latest archived twin
// (GET /devicehub/archive/{id}): why and when it was retired, what replaced it, its status then, tags,
// desired and reported properties. The
// archive is read-only; every role may read it (it holds no keys). Admins retire devices from their page.

import {h, fill, pageRoot, table, setRows, timeEl, field, hashWith, loading, errorBox} from './ui.js';
import {facts} from './ops.js';

const PAGE = 50;
const enc = encodeURIComponent;

// A twin section without its $-members, as formatted JSON.
function sectionJson(section) {
  const out = {};
  for (const [k, v] of Object.entries(section || {})) if (!k.startsWith('$')) out[k] = v;
  return JSON.stringify(out, null, 2);
}

const deviceLink = (id) => h('a', {href: `#/devices/${enc(id)}`}, id);

async function renderList(root, ctx) {
  const {api} = ctx;
  const p = ctx.params;
  pageRoot(root, 'archive', 'Archive', h('a', {class: 'button', href: '/devicehub/archive/export', download: 'archive.ndjson',
    testid: 'archive-export'}, 'Download all (JSON lines)'));
  root.append(h('p', {class: 'muted'}, 'Devices retired or replaced, with the twin they had. A retired id cannot register again.'));
  const form = h('form', {class: 'panel filters', role: 'search', 'aria-label': 'Filter the archive'},
    field('Device id', 'deviceId', {value: p.deviceId || '', attrs: {testid: 'archive-device', autocomplete: 'off'}}),
    field('Reason', 'reason', {value: p.reason || '', attrs: {testid: 'archive-reason'}}),
    h('div', {class: 'form-actions'}, h('button', {type: 'submit', class: 'primary', testid: 'archive-apply'}, 'Apply'),
      h('button', {type: 'button', testid: 'archive-clear', onclick: () => ctx.navigate('#/archive')}, 'Clear')));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const v = (n) => form.elements.namedItem(n).value.trim();
    ctx.navigate(hashWith('/archive', {deviceId: v('deviceId'), reason: v('reason')}));
  });
  root.append(form);

  const columns = [
    {label: 'Device', render: (r) => h('a', {href: `#/archive/${enc(r.deviceId)}`}, r.deviceId)},
    {label: 'Reason', render: (r) => r.reason},
    {label: 'Retired', render: (r) => timeEl(r.retiredTime)},
    {label: 'Replaced by', render: (r) => (r.replacedBy ? deviceLink(r.replacedBy) : null)},
  ];
  const rowAttrs = (r) => ({dataset: {testid: 'archive-row', deviceId: r.deviceId, reason: r.reason}});
  const tableEl = table(columns, [], {caption: 'Archived devices, in retirement order', state: 'loading', rowAttrs});
  tableEl.querySelector('table').classList.add('cards');
  const info = h('p', {class: 'muted', role: 'status', testid: 'archive-page'});
  const prev = h('button', {type: 'button', class: 'small', testid: 'archive-prev'}, 'Previous page');
  const next = h('button', {type: 'button', class: 'small', testid: 'archive-next'}, 'Next page');
  root.append(tableEl, h('div', {class: 'pager'}, info, prev, next));

  let skip = 0;
  let seq = 0;
  async function load(at) {
    const mine = ++seq;
    const q = new URLSearchParams({top: String(PAGE + 1), skip: String(at)});
    for (const k of ['deviceId', 'reason']) if (p[k]) q.set(k, p[k]);
    setRows(tableEl, columns, [], {state: 'loading'});
    try {
      const list = await api.get(`/devicehub/archive?${q}`);
      if (mine !== seq) return;
      skip = at;
      const items = (Array.isArray(list) ? list : []).slice(0, PAGE);
      const filtered = p.deviceId || p.reason;
      setRows(tableEl, columns, items, {rowAttrs, empty: filtered ? 'No archived device matches these filters.' : 'No device has been retired.'});
      info.textContent = items.length ? `Entries ${at + 1}–${at + items.length}` : '';
      prev.disabled = at === 0;
      next.disabled = list.length <= PAGE; // one more than a page was asked for: is there a next page?
    } catch (e) {
      if (mine !== seq) return;
      setRows(tableEl, columns, [], {state: 'error', error: e, retry: () => load(skip)});
    }
  }
  prev.addEventListener('click', () => load(Math.max(0, skip - PAGE)));
  next.addEventListener('click', () => load(skip + PAGE));
  await load(0);
  return () => { seq++; };
}

async function renderEntry(root, ctx) {
  const id = ctx.params.id;
  pageRoot(root, 'archive-entry', `Archived: ${id}`, h('a', {class: 'button', href: '#/archive'}, 'The archive'));
  const body = h('div', {class: 'stack'}, loading());
  root.append(body);
  let a;
  try {
    a = await ctx.api.get(`/devicehub/archive/${enc(id)}`); // the latest retirement of the id
  } catch (e) {
    fill(body, e.status === 404 ? h('p', {class: 'state state-empty', testid: 'archive-not-found'}, `No archived twin of ${id}.`) : errorBox(e));
    return;
  }
  const twin = a.twin || {};
  const identity = twin.identity || {};
  const props = twin.properties || {};
  const pre = (label, text, testid) => h('section', {class: 'panel', 'aria-label': label},
    h('h2', {}, label), h('pre', {class: 'json wrap-anywhere', tabindex: '0', dataset: {testid}}, text));
  fill(body,
    h('section', {class: 'panel', 'aria-labelledby': 'archived-h', testid: 'archive-entry'},
      h('h2', {id: 'archived-h'}, 'Retirement'),
      facts([
        ['Reason', h('span', {dataset: {testid: 'archive-entry-reason'}}, a.reason)],
        ['Retired', timeEl(a.retiredTime)],
        a.replacedBy ? ['Replaced by', h('span', {dataset: {testid: 'archive-replaced-by'}}, deviceLink(a.replacedBy))] : null,
        ['Status then', identity.status || twin.status || '—'],
        ['Last activity', twin.lastActivityTime ? timeEl(twin.lastActivityTime) : '—'],
        ['Twin version', String(twin.version ?? '—')],
      ], 'kv'),
      h('p', {}, h('a', {href: hashWith('/archive', {deviceId: id})}, 'Every retirement of this id')),
      h('p', {class: 'muted'}, 'Its keys were deleted with the identity; nothing here can authenticate.')),
    pre('Tags', JSON.stringify(twin.tags || {}, null, 2), 'archive-tags'),
    pre('Desired properties', sectionJson(props.desired), 'archive-desired'),
    pre('Reported properties', sectionJson(props.reported), 'archive-reported'));
}

export async function render(root, ctx) {
  return ctx.params.id ? renderEntry(root, ctx) : renderList(root, ctx);
}
