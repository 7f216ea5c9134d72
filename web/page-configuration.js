// page-configuration.js (#/configurations/<id>): one configuration: its counts and metrics, the drift
// view (GET /devicehub/configurations/{id}/drift: per desired path, devices whose reported value matches
// and devices drifting, since when, with a link to the devices page listing the drifting ones), an edit
// form for what IoT Hub lets change (target condition with a live count, priority, labels; If-Match so
// a concurrent change is reported, not overwritten) and delete. twin.updated events refetch the counts
// and the drift, at most every 3 seconds.

import {h, fill, pageRoot, fmtNumber, throttle, field, confirmDialog, errorBox, loading, timeEl, duration,
  parseTime, sqlString, hashWith} from './ui.js';
import {enc} from './api.js';
import {allowed, conditionField, showFormError, clearFormError, facts, errorText, parseLabels, labelsText} from './ops.js';

// A path for the query language: segments that are not plain names go in [[ ]].
function queryPath(path) {
  return path.split('.').map((seg, i) => (i === 0 || /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(seg) ? seg : `[[${seg}]]`)).join('.');
}

// The condition listing the targeted devices whose reported value at `path` (properties.desired.x) is
// not the desired `value`. null when the value is not a primitive (objects never compare equal).
export function driftCondition(targetCondition, path, value) {
  const rp = queryPath(path.replace(/^properties\.desired\./, 'properties.reported.'));
  let differs;
  if (typeof value === 'string') differs = `(NOT IS_STRING(${rp}) OR ${rp} != ${sqlString(value)})`;
  else if (typeof value === 'number') differs = `(NOT IS_NUMBER(${rp}) OR ${rp} != ${value})`;
  else if (typeof value === 'boolean') differs = `(NOT IS_BOOL(${rp}) OR ${rp} != ${value})`;
  else if (value === null) differs = `IS_DEFINED(${rp})`;
  else return null;
  const t = (targetCondition || '').trim();
  if (!t) return null;
  return t === '*' ? differs : `(${t}) AND ${differs}`;
}

export async function render(root, ctx) {
  const {api, events} = ctx;
  const id = ctx.params.id;
  const canWrite = allowed(ctx, 'operator');
  pageRoot(root, 'configuration', `Configuration ${id}`, h('a', {href: '#/configurations', class: 'button'}, 'All configurations'));
  const body = h('div', {class: 'stack'}, loading());
  root.append(body);

  let cfg = null;
  let gone = false;
  const summary = h('section', {class: 'panel', 'aria-labelledby': 'cfg-sum-h', testid: 'config-summary'});
  const driftBox = h('section', {class: 'panel', 'aria-labelledby': 'drift-h', testid: 'drift'});
  const editBox = h('section', {class: 'panel', 'aria-labelledby': 'cfg-edit-h', testid: 'config-edit'});

  function drawSummary() {
    const sys = (cfg.systemMetrics || {}).results || {};
    const custom = (cfg.metrics || {}).results || {};
    const del = canWrite ? h('button', {type: 'button', class: 'danger', testid: 'config-delete', onclick: remove}, 'Delete') : null;
    fill(summary,
      h('div', {class: 'panel-head'}, h('h2', {id: 'cfg-sum-h'}, 'Summary'), del),
      h('div', {class: 'tiles small'},
        h('div', {class: 'tile', dataset: {testid: 'targeted', value: String(sys.targetedCount ?? 0)}}, h('span', {class: 'label'}, 'Targeted'), h('span', {class: 'value'}, fmtNumber(sys.targetedCount ?? 0))),
        h('div', {class: 'tile', dataset: {testid: 'applied', value: String(sys.appliedCount ?? 0)}}, h('span', {class: 'label'}, 'Applied'), h('span', {class: 'value'}, fmtNumber(sys.appliedCount ?? 0))),
        Object.entries(custom).map(([k, v]) => h('div', {class: 'tile'}, h('span', {class: 'label'}, k), h('span', {class: 'value'}, fmtNumber(v))))),
      facts([
        ['Target condition', h('code', {class: 'wrap-anywhere'}, cfg.targetCondition || '(none)')],
        ['Priority', String(cfg.priority ?? 0)],
        ['Labels', labelsText(cfg.labels) || '—'],
        ['Created', timeEl(cfg.createdTimeUtc)],
        ['Updated', timeEl(cfg.lastUpdatedTimeUtc)],
        ['ETag', h('code', {}, cfg.etag)],
      ], 'kv'),
      h('details', {}, h('summary', {}, 'Desired content'), h('pre', {class: 'mono', testid: 'config-content'}, JSON.stringify((cfg.content || {}).deviceContent || {}, null, 2))));
  }

  let driftSeq = 0; // only the latest drift answer draws
  async function loadDrift() {
    const mine = ++driftSeq;
    try {
      const d = await api.get(`/devicehub/configurations/${enc(id)}/drift`);
      if (gone || mine !== driftSeq) return;
      const props = d.properties || [];
      const rows = props.map((p) => {
        const total = (p.matched || 0) + (p.drifting || 0);
        const since = parseTime(p.oldestDriftSince);
        const cond = p.drifting ? driftCondition(cfg.targetCondition, p.path, p.value) : null;
        return h('tr', {dataset: {testid: 'drift-row', path: p.path, matched: String(p.matched), drifting: String(p.drifting)}},
          h('th', {scope: 'row', 'data-label': 'Desired path'}, h('code', {class: 'wrap-anywhere'}, p.path)),
          h('td', {'data-label': 'Desired value'}, h('code', {}, JSON.stringify(p.value))),
          h('td', {class: 'num', 'data-label': 'Matched'}, fmtNumber(p.matched)),
          h('td', {class: 'num', 'data-label': 'Drifting'}, p.drifting ? h('strong', {class: 'bad-text'}, fmtNumber(p.drifting)) : '0'),
          h('td', {'data-label': 'Share'}, h('span', {class: 'drift-bar', role: 'img', 'aria-label': `${fmtNumber(p.matched)} of ${fmtNumber(total)} match`},
            total ? h('span', {class: 'seg seg-matched', style: {width: `${(100 * p.matched) / total}%`}}) : null,
            total ? h('span', {class: 'seg seg-drifting', style: {width: `${(100 * p.drifting) / total}%`}}) : null)),
          h('td', {'data-label': 'Drifting for'}, p.drifting && since !== null ? h('span', {title: new Date(since).toLocaleString()}, duration(Math.max(0, Math.round((Date.now() - since) / 1000)))) : '—'),
          h('td', {'data-label': 'Devices'}, cond ? h('a', {href: hashWith('/devices', {q: cond}), testid: 'drift-devices',
            'aria-label': `List the ${p.drifting} devices drifting on ${p.path}`}, 'List drifting devices') : '—'));
      });
      fill(driftBox, h('div', {class: 'panel-head'}, h('h2', {id: 'drift-h'}, 'Drift'),
        h('span', {class: 'muted'}, `${fmtNumber(d.targetedCount)} targeted devices`)),
      h('p', {class: 'muted'}, 'For each desired property: targeted devices whose reported value equals it (matched) and those that do not (drifting), and since when the desired value has been waiting.'),
      props.length ? h('div', {class: 'table-wrap'}, h('table', {class: 'data cards', testid: 'drift-table'},
        h('caption', {class: 'sr-only'}, 'Drift per desired property'),
        h('thead', {}, h('tr', {}, ['Desired path', 'Desired value', 'Matched', 'Drifting', 'Share', 'Drifting for', 'Devices'].map((l) =>
          h('th', {scope: 'col', class: l === 'Matched' || l === 'Drifting' ? 'num' : ''}, l)))),
        h('tbody', {}, rows))) : h('p', {class: 'state state-empty'}, 'This configuration sets no properties.'));
    } catch (e) {
      if (!gone && mine === driftSeq) fill(driftBox, h('h2', {id: 'drift-h'}, 'Drift'), errorBox(e, loadDrift));
    }
  }

  function drawEdit() {
    if (!canWrite) {
      editBox.hidden = true;
      return;
    }
    const form = h('form', {class: 'stack', novalidate: true, testid: 'config-edit-form'});
    const errBox = h('div', {class: 'notice bad', role: 'alert', hidden: true, testid: 'config-edit-error'});
    const target = conditionField(ctx, {label: 'Target condition', testid: 'config-edit-condition', value: cfg.targetCondition || ''});
    const prio = field('Priority', 'priority', {type: 'number', value: String(cfg.priority ?? 0), attrs: {min: 0, testid: 'config-edit-priority'}});
    const labels = field('Labels', 'labels', {value: labelsText(cfg.labels), attrs: {placeholder: 'team=ops', testid: 'config-edit-labels'}});
    const save = h('button', {type: 'submit', class: 'primary', testid: 'config-save'}, 'Save changes');
    form.append(target.el, h('div', {class: 'form-row'}, prio, labels), errBox, h('div', {class: 'form-actions'}, save));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      clearFormError(errBox);
      const fields = [[/targetCondition|query|syntax/i, target.el], [/priority/i, prio], [/label/i, labels]];
      let next;
      try {
        next = {...cfg, targetCondition: target.value(), priority: Number(form.elements.namedItem('priority').value || 0),
          labels: parseLabels(form.elements.namedItem('labels').value)};
        delete next.systemMetrics;
      } catch (err) {
        showFormError(errBox, err, fields);
        return;
      }
      save.disabled = true;
      try {
        cfg = await api.put(`/configurations/${enc(id)}`, next, {ifMatch: cfg.etag});
        seq++; // a refresh still in flight read the configuration before this change
        ctx.toast('Configuration saved', 'ok');
        drawSummary();
        loadDrift();
      } catch (err) {
        if (err.status === 412) {
          err.message = 'Someone else changed this configuration since you opened it. Its current state is shown above; your edits are still in the form.';
          refresh(false);
        }
        showFormError(errBox, err, fields);
      } finally {
        save.disabled = false;
      }
    });
    fill(editBox, h('h2', {id: 'cfg-edit-h'}, 'Edit'),
      h('p', {class: 'muted'}, 'IoT Hub lets the target condition, priority, labels and metrics change; the content never does (create a new configuration instead).'),
      form);
  }

  async function remove() {
    const ok = await confirmDialog({title: `Delete configuration ${id}?`, danger: true, confirmLabel: 'Delete',
      message: 'Its properties are removed from the desired properties of the devices it targeted, unless another configuration takes them.'});
    if (!ok) return;
    try {
      await api.del(`/configurations/${enc(id)}`, {ifMatch: '*'});
      ctx.toast(`Configuration ${id} deleted`, 'ok');
      ctx.navigate('#/configurations');
    } catch (e) {
      ctx.toast(`Could not delete: ${errorText(e)}`, 'error');
    }
  }

  // Refreshes can answer out of order (a live one may start during the first load): only the latest draws.
  let seq = 0;
  async function refresh(withEdit = true) {
    const mine = ++seq;
    try {
      const c = await api.get(`/configurations/${enc(id)}`);
      if (gone || mine !== seq) return;
      cfg = c;
      const first = !summary.isConnected;
      if (first) fill(body, summary, driftBox, editBox);
      drawSummary();
      if (withEdit || first) drawEdit();
      loadDrift();
    } catch (e) {
      if (gone || mine !== seq) return;
      if (!cfg) fill(body, e.status === 404 ? h('p', {class: 'state state-empty', testid: 'config-not-found'}, `There is no configuration named ${id}.`) : errorBox(e, refresh));
      else ctx.toast(`Could not refresh: ${errorText(e)}`, 'error');
    }
  }

  // Subscribed before the first load, so that a change during it is not missed.
  const live = throttle(() => refresh(false), 3000);
  const off = [events.on('twin.updated', live), events.onResync(live)];
  await refresh();
  return () => {
    gone = true;
    live.cancel();
    off.forEach((f) => f());
  };
}
