// ops.js: helpers shared by the operations pages (jobs, rollouts, configurations, audit, accounts) that
// ui.js does not have: role checks, job status and progress rendering, a query condition field with a
// live device count, JSON fields, server errors placed next to the form field they name. No network of
// its own beyond what callers pass in (ctx.api).

import {h, fill, debounce, fmtNumber} from './ui.js';

const RANK = {viewer: 1, operator: 2, admin: 3};

// The operations pages' own styles (ops.css), linked once when the first of them loads.
if (typeof document !== 'undefined' && !document.querySelector('link[href="/ui/ops.css"]')) {
  document.head.append(h('link', {rel: 'stylesheet', href: '/ui/ops.css'}));
}

// Whether the session has at least `role` (ctx.can when the shell gives it).
export function allowed(ctx, role) {
  if (typeof ctx.can === 'function') return ctx.can(role);
  return (RANK[ctx.session && ctx.session.role] || 0) >= RANK[role];
}

export const FINISHED = new Set(['completed', 'failed', 'cancelled']);

const STATUS_KIND = {queued: 'info', scheduled: 'info', running: 'info', completed: 'ok', failed: 'bad',
  cancelled: 'warn', canceled: 'warn', pending: '', verifying: 'info', succeeded: 'ok'};

// Applies a job.progress event to a job as the REST API shows it. Returns whether its status changed.
// A finished job never runs again, so an event that says otherwise is older than what the page holds
// (events of two writers can reach the socket in another order than their commits) and is ignored.
export function applyProgress(job, ev) {
  if (FINISHED.has(job.status) && !FINISHED.has(ev.status)) return false;
  const statusChanged = job.status !== ev.status;
  job.status = ev.status;
  if (ev.deviceJobStatistics) job.deviceJobStatistics = ev.deviceJobStatistics;
  if (ev.rollout) {
    job.paused = !!ev.paused;
    job.awaitingApproval = !!ev.awaitingApproval;
    if (typeof ev.currentPhase === 'number') job.currentPhase = ev.currentPhase;
  }
  return statusChanged;
}

export function jobStatusBadge(status) {
  return h('span', {class: `badge job-status ${STATUS_KIND[status] ?? ''}`, dataset: {status}}, status || '—');
}

export function isRollout(job) {
  return !!(job && job.policy);
}

// What a job does, in words: "method reboot", "twin patch", "firmware 2.0.0".
export function jobAction(job) {
  const m = job.cloudToDeviceMethod;
  if (m && m.methodName === 'firmwareUpdate' && m.payload && m.payload.version) return `firmware ${m.payload.version}`;
  if (m) return `method ${m.methodName}`;
  if (job.updateTwin) return 'twin patch';
  return job.type || '—';
}

// A stacked bar of a job's device statistics with a text equivalent.
export function statsBar(st, label) {
  st = st || {};
  const total = st.deviceCount || 0;
  const parts = [
    ['succeeded', st.succeededCount || 0],
    ['failed', st.failedCount || 0],
    ['running', st.runningCount || 0],
    ['pending', st.pendingCount || 0],
  ];
  const done = (st.succeededCount || 0) + (st.failedCount || 0);
  const text = total ? `${fmtNumber(done)} of ${fmtNumber(total)} done: ${parts.map(([k, v]) => `${fmtNumber(v)} ${k}`).join(', ')}`
    : 'no devices yet';
  return h('div', {class: 'stats-bar', role: 'img', 'aria-label': `${label ? `${label}: ` : ''}${text}`, title: text},
    h('div', {class: 'stats-track'}, total ? parts.filter(([, v]) => v > 0).map(([k, v]) =>
      h('span', {class: `seg seg-${k}`, style: {width: `${(100 * v) / total}%`}})) : null),
    h('span', {class: 'stats-text', 'aria-hidden': 'true'}, total ? `${fmtNumber(done)}/${fmtNumber(total)}` : '—'));
}

// The message of an error for a person: ApiError.message is IoT Hub's text without its code.
export function errorText(e) {
  if (!e) return '';
  return e.message || String(e);
}

// A query condition (the part after WHERE) in a textarea, with a debounced live device count and the
// parser's syntax error under it. Returns {el, input, value(), refresh()}.
export function conditionField(ctx, {label = 'Target devices (query condition)', name = 'condition', value = '',
  testid = 'condition', hint, required = true, rows = 2, onCount} = {}) {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 7)}`;
  const countId = `${id}-count`;
  const input = h('textarea', {id, name, rows, spellcheck: 'false', required, testid, 'aria-describedby': countId,
    placeholder: "tags.site = 'b43' AND properties.reported.firmware.version = '1.0.0'"}, value);
  const out = h('p', {id: countId, class: 'live-count', role: 'status', 'aria-live': 'polite', testid: `${testid}-count`});
  let seq = 0;
  const run = async () => {
    const cond = input.value.trim();
    const mine = ++seq;
    if (!cond) {
      out.className = 'live-count';
      fill(out, 'Type a condition, e.g. ', h('code', {}, "tags.site = 'b43'"), ', or ', h('code', {}, '*'), ' for every device.');
      if (onCount) onCount(null);
      return;
    }
    out.className = 'live-count pending';
    fill(out, 'Counting…');
    try {
      const sql = cond === '*' ? 'SELECT COUNT() AS n FROM devices' : `SELECT COUNT() AS n FROM devices WHERE ${cond}`;
      const r = await ctx.api.query(sql, {top: 1});
      if (mine !== seq) return;
      const n = r.items[0] ? r.items[0].n : 0;
      out.className = 'live-count ok';
      out.dataset.count = String(n);
      fill(out, h('strong', {}, fmtNumber(n)), n === 1 ? ' device matches' : ' devices match');
      input.removeAttribute('aria-invalid');
      if (onCount) onCount(n);
    } catch (e) {
      if (mine !== seq) return;
      out.className = 'live-count error';
      delete out.dataset.count;
      input.setAttribute('aria-invalid', 'true');
      // The message counts positions in the whole query: point at the condition instead.
      const prefix = 'SELECT COUNT() AS n FROM devices WHERE '.length;
      const msg = errorText(e).replace(/position (\d+)/, (_, p) => `position ${Math.max(1, Number(p) - prefix)}`);
      fill(out, h('span', {class: 'err-label'}, 'Error: '), msg);
      if (onCount) onCount(undefined);
    }
  };
  const later = debounce(run, 350);
  input.addEventListener('input', later);
  const el = h('div', {class: 'field condition-field'}, h('label', {for: id}, label), input,
    hint ? h('small', {class: 'hint'}, hint) : null, out);
  run();
  return {el, input, value: () => input.value.trim(), refresh: run, cancel: later.cancel};
}

// A JSON textarea: value() parses it (undefined when empty) or throws an Error naming the field.
export function jsonField(label, name, {value = '', testid, rows = 4, hint, placeholder} = {}) {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 7)}`;
  const input = h('textarea', {id, name, rows, spellcheck: 'false', testid, placeholder, class: 'mono'},
    typeof value === 'string' ? value : JSON.stringify(value, null, 2));
  const err = h('small', {class: 'field-error', id: `${id}-err`, role: 'alert'});
  input.setAttribute('aria-describedby', `${id}-err`);
  const check = () => {
    const t = input.value.trim();
    if (!t) return undefined;
    try {
      const v = JSON.parse(t);
      err.textContent = '';
      input.removeAttribute('aria-invalid');
      return v;
    } catch (e) {
      err.textContent = `Not valid JSON: ${e.message}`;
      input.setAttribute('aria-invalid', 'true');
      throw new Error(`${label}: not valid JSON (${e.message})`);
    }
  };
  input.addEventListener('change', () => { try { check(); } catch { /* shown */ } });
  const el = h('div', {class: 'field'}, h('label', {for: id}, label), input, hint ? h('small', {class: 'hint'}, hint) : null, err);
  return {el, input, value: check};
}

// Shows a server error next to the field it is about. fields: [[regexp over the message, element to put
// the message after]]. The general box always gets the message too.
export function showFormError(box, e, fields = []) {
  clearFormError(box);
  const msg = errorText(e);
  fill(box, h('strong', {}, e && e.code ? `${e.code}: ` : 'Error: '), msg);
  box.hidden = false;
  for (const [re, el] of fields) {
    if (el && re.test(msg)) {
      el.append(h('p', {class: 'server-field-error', role: 'alert'}, msg));
      const input = el.querySelector('input, textarea, select');
      if (input) {
        input.setAttribute('aria-invalid', 'true');
        input.dataset.serverInvalid = '1';
      }
      break;
    }
  }
}

export function clearFormError(box) {
  box.hidden = true;
  fill(box);
  for (const old of document.querySelectorAll('.server-field-error')) old.remove();
  for (const input of document.querySelectorAll('[data-server-invalid]')) {
    input.removeAttribute('aria-invalid');
    delete input.dataset.serverInvalid;
  }
}

// A definition list from [[term, value], ...] (null values skipped).
export function facts(pairs, cls = 'facts') {
  return h('dl', {class: cls}, pairs.filter((p) => p && p[1] !== undefined && p[1] !== null)
    .map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
}

// Configuration labels and content as typed in the forms.
// "team=ops, ring=canary" → {team: 'ops', ring: 'canary'}; throws on a part without '='.
export function parseLabels(text) {
  const out = {};
  for (const part of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const i = part.indexOf('=');
    if (i <= 0) throw new Error(`labels: '${part}' is not name=value`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}

export function labelsText(labels) {
  return Object.entries(labels || {}).map(([k, v]) => `${k}=${v}`).join(', ');
}

// The desired content as typed: an object of twin paths (properties.desired...) is taken as
// deviceContent; any other object is what to merge under properties.desired.
export function deviceContent(v) {
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw new Error('desired content: a JSON object is needed');
  const keys = Object.keys(v);
  if (keys.length && keys.every((k) => k === 'properties.desired' || k.startsWith('properties.desired.'))) return v;
  return {'properties.desired': v};
}
