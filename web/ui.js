// ui.js: small shared helpers for every page: an element builder, tables with loading / empty / error
// states, time formatting, a confirm dialog on <dialog>, copy-to-clipboard. No state, no network.

// h('button', {class: 'primary', onclick: fn, dataset: {testid: 'x'}}, 'text', child, [more])
// Attributes: class, dataset, on<event> functions, style (object, applied through CSSOM so a strict
// Content-Security-Policy holds), boolean attributes (true/false), anything else as an attribute.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else if (k === 'testid') el.dataset.testid = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

export function clear(el) {
  while (el.firstChild) el.removeChild(el.firstChild);
  return el;
}

// Replaces el's children.
export function fill(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

// A page root: <section data-page=name> with a heading.
export function pageRoot(root, name, title, ...actions) {
  clear(root);
  root.dataset.page = name;
  const head = h('div', {class: 'page-head'}, h('h1', {}, title), h('div', {class: 'page-actions'}, actions));
  root.append(head);
  document.title = `${title} · devicehub`;
  return head;
}

export function loading(text = 'Loading…') {
  return h('p', {class: 'state state-loading', role: 'status'}, h('span', {class: 'spinner', 'aria-hidden': 'true'}), text);
}

export function empty(text) {
  return h('p', {class: 'state state-empty'}, text);
}

export function errorBox(err, retry) {
  const msg = err && err.message ? err.message : String(err);
  return h('div', {class: 'state state-error', role: 'alert'},
    h('strong', {}, 'Could not load. '), msg,
    retry ? h('button', {type: 'button', class: 'link', onclick: retry}, 'Retry') : null);
}

// A table. columns: [{key, label, render(row) → node|string, class}]. rows: array. Options: empty text,
// rowAttrs(row) → attributes for the <tr>, caption (visually hidden unless captionVisible).
export function table(columns, rows, opts = {}) {
  const thead = h('thead', {}, h('tr', {}, columns.map((c) => h('th', {scope: 'col', class: c.class}, c.label))));
  const tbody = h('tbody');
  const t = h('table', {class: 'data'}, opts.caption ? h('caption', {class: opts.captionVisible ? '' : 'sr-only'}, opts.caption) : null, thead, tbody);
  setRows(t, columns, rows, opts);
  return h('div', {class: 'table-wrap'}, t);
}

export function setRows(tableEl, columns, rows, opts = {}) {
  const t = tableEl.tagName === 'TABLE' ? tableEl : tableEl.querySelector('table');
  const tbody = t.tBodies[0];
  clear(tbody);
  if (opts.state === 'loading' || opts.state === 'error' || !rows || rows.length === 0) {
    let cell;
    if (opts.state === 'loading') cell = loading();
    else if (opts.state === 'error') cell = errorBox(opts.error, opts.retry);
    else cell = empty(opts.empty || 'Nothing here yet.');
    tbody.append(h('tr', {class: 'state-row'}, h('td', {colspan: columns.length}, cell)));
    return;
  }
  for (const row of rows) {
    const tr = h('tr', opts.rowAttrs ? opts.rowAttrs(row) : {});
    for (const c of columns) {
      const v = c.render ? c.render(row) : row[c.key];
      tr.append(h('td', {class: c.class, 'data-label': c.label}, v === undefined || v === null ? '—' : v));
    }
    tbody.append(tr);
  }
}

// Times: IoT Hub's "0001-01-01T00:00:00Z" means never.
export function parseTime(iso) {
  if (!iso || iso.startsWith('0001-01-01')) return null;
  const t = Date.parse(iso);
  return Number.isNaN(t) ? null : t;
}

export function formatTime(iso) {
  const t = typeof iso === 'number' ? iso : parseTime(iso);
  if (t === null) return 'never';
  const d = new Date(t);
  const now = new Date();
  const sameDay = d.toDateString() === now.toDateString();
  const time = d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: '2-digit'});
  return sameDay ? time : `${d.toLocaleDateString([], {year: 'numeric', month: 'short', day: 'numeric'})} ${time}`;
}

export function timeAgo(iso) {
  const t = typeof iso === 'number' ? iso : parseTime(iso);
  if (t === null) return 'never';
  const s = Math.round((Date.now() - t) / 1000);
  if (s < 5 && s > -5) return 'just now';
  if (s < 0) return `in ${duration(-s)}`;
  return `${duration(s)} ago`;
}

export function duration(s) {
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

// A <time> element showing a relative time, with the absolute one as its title.
export function timeEl(iso) {
  const t = parseTime(iso);
  if (t === null) return h('span', {class: 'muted'}, 'never');
  return h('time', {datetime: new Date(t).toISOString(), title: new Date(t).toLocaleString(), dataset: {relative: '1'}}, timeAgo(t));
}

// Keeps every relative time on the page current (app.js calls this every 15 s).
export function refreshRelativeTimes(root = document) {
  for (const el of root.querySelectorAll('time[data-relative]')) el.textContent = timeAgo(Date.parse(el.getAttribute('datetime')));
}

export function fmtNumber(n) {
  return typeof n === 'number' ? n.toLocaleString() : '—';
}

// A modal dialog on <dialog>. Resolves true on confirm, false on cancel / Escape.
export function confirmDialog({title, message, confirmLabel = 'Confirm', danger = false, body = null}) {
  return new Promise((resolve) => {
    const ok = h('button', {type: 'submit', value: 'ok', class: danger ? 'danger' : 'primary', testid: 'confirm-ok'}, confirmLabel);
    const cancel = h('button', {type: 'button', testid: 'confirm-cancel', onclick: () => dlg.close('cancel')}, 'Cancel');
    const form = h('form', {method: 'dialog'},
      h('h2', {id: 'dlg-title'}, title),
      message ? h('p', {}, message) : null, body,
      h('div', {class: 'dialog-actions'}, cancel, ok));
    const dlg = h('dialog', {'aria-labelledby': 'dlg-title', testid: 'confirm-dialog'}, form);
    dlg.addEventListener('close', () => {
      resolve(dlg.returnValue === 'ok');
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
    cancel.focus();
  });
}

// A dialog with arbitrary form content; onSubmit(formData) may throw to keep it open (shows the error).
export function formDialog({title, fields, submitLabel = 'Save', onSubmit, testid}) {
  return new Promise((resolve) => {
    const err = h('p', {class: 'form-error', role: 'alert'});
    const submit = h('button', {type: 'submit', class: 'primary', testid: 'dialog-submit'}, submitLabel);
    const form = h('form', {},
      h('h2', {id: 'fdlg-title'}, title), fields, err,
      h('div', {class: 'dialog-actions'},
        h('button', {type: 'button', onclick: () => { dlg.close(); }}, 'Cancel'), submit));
    const dlg = h('dialog', {'aria-labelledby': 'fdlg-title', testid: testid || 'form-dialog'}, form);
    let result = null;
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      err.textContent = '';
      submit.disabled = true;
      try {
        result = await onSubmit(new FormData(form), form);
        dlg.close();
      } catch (e2) {
        err.textContent = e2.message || String(e2);
      } finally {
        submit.disabled = false;
      }
    });
    dlg.addEventListener('close', () => {
      resolve(result);
      dlg.remove();
    });
    document.body.append(dlg);
    dlg.showModal();
    const first = form.querySelector('input, textarea, select');
    if (first) first.focus();
  });
}

// A labelled form field. type 'textarea' | 'select' (options: [[value,label]]) | input types.
export function field(label, name, opts = {}) {
  const id = `f-${name}-${Math.random().toString(36).slice(2, 7)}`;
  let input;
  if (opts.type === 'textarea') input = h('textarea', {id, name, rows: opts.rows || 6, spellcheck: 'false', ...opts.attrs}, opts.value || '');
  else if (opts.type === 'select') {
    input = h('select', {id, name, ...opts.attrs}, (opts.options || []).map(([v, l]) => h('option', {value: v}, l)));
    if (opts.value !== undefined) input.value = opts.value;
  } else input = h('input', {id, name, type: opts.type || 'text', value: opts.value, ...opts.attrs});
  return h('div', {class: 'field'}, h('label', {for: id}, label), input, opts.hint ? h('small', {class: 'hint'}, opts.hint) : null);
}

// Copies text; resolves true on success (falls back to a hidden textarea outside secure contexts).
export async function copyText(text) {
  try {
    if (navigator.clipboard && window.isSecureContext) {
      await navigator.clipboard.writeText(text);
      return true;
    }
  } catch { /* fall through */ }
  const ta = h('textarea', {class: 'sr-only', 'aria-hidden': 'true'}, text);
  document.body.append(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch { ok = false; }
  ta.remove();
  return ok;
}

// A copy button for a value (or a function returning it).
export function copyButton(value, toast, label = 'Copy', testid) {
  return h('button', {type: 'button', class: 'small', testid, onclick: async () => {
    const ok = await copyText(typeof value === 'function' ? value() : value);
    if (toast) toast(ok ? 'Copied to the clipboard' : 'Could not copy: select the text and copy it', ok ? 'ok' : 'error');
  }}, label);
}

export function badge(text, kind = '') {
  return h('span', {class: `badge ${kind}`}, text);
}

export function connectionBadge(state) {
  const on = state === 'Connected';
  return h('span', {class: `conn ${on ? 'on' : 'off'}`, dataset: {state: state || 'Disconnected'}},
    h('span', {class: 'dot', 'aria-hidden': 'true'}), on ? 'Connected' : 'Disconnected');
}

export function statusBadge(status) {
  return badge(status || '—', status === 'enabled' ? 'ok' : 'warn');
}

// Progress bar with text for screen readers.
export function progress(value, max, label) {
  const pct = max > 0 ? Math.round((100 * value) / max) : 0;
  return h('div', {class: 'progress-line'},
    h('progress', {value, max: max || 1, 'aria-label': label || 'progress'}),
    h('span', {class: 'progress-text'}, `${pct}%`));
}

// Runs fn at most once per `ms` (trailing call guaranteed).
export function throttle(fn, ms) {
  let timer = null;
  let last = 0;
  const run = () => {
    timer = null;
    last = Date.now();
    fn();
  };
  // The timer runs fn itself rather than calling wrapped again: a timer that fires a millisecond early by
  // Date.now() would otherwise find the wait not over and its own handle still set, and never call fn.
  const wrapped = () => {
    if (timer) return;
    const wait = last + ms - Date.now();
    if (wait <= 0) run();
    else timer = setTimeout(run, wait);
  };
  wrapped.cancel = () => { clearTimeout(timer); timer = null; };
  return wrapped;
}

export function debounce(fn, ms) {
  let timer = null;
  const d = (...args) => { clearTimeout(timer); timer = setTimeout(() => fn(...args), ms); };
  d.cancel = () => clearTimeout(timer);
  return d;
}

// Quotes a string for the query language (backslash escapes: 'it\'s'; a doubled '' is a syntax error).
export function sqlString(s) {
  return `'${String(s).replace(/[\\']/g, '\\$&')}'`;
}

// Hash link helper: '#/devices?q=...'
export function hashWith(path, params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== '') q.set(k, v);
  const s = q.toString();
  return `#${path}${s ? `?${s}` : ''}`;
}
