// page-devices.js (#/devices?q=<WHERE condition>&f=<tag filters as JSON [[path,value],..]>): the device
// list, one page of 50 twins at a time through POST /devices/query and its continuation tokens (nothing
// loads the whole registry). A query box with examples, autocomplete of twin paths (GET
// /devicehub/twin-paths) and keywords, syntax errors shown where they are; the match count (SELECT COUNT())
// arrives on its own; tag filter chips; connection state live from events; select many and run a method,
// patch twins (jobs) or start a rollout (#/jobs/new?query=<WHERE condition>).
import {h, fill, pageRoot, table, setRows, fmtNumber, timeEl, connectionBadge, statusBadge, formDialog, field,
  sqlString, hashWith, debounce} from './ui.js';

const PAGE_SIZE = 50;
const MAX_QUERY_BYTES = 8192;

const EXAMPLES = [
  ['Connected devices', "connectionState = 'Connected'"],
  ['Disabled devices', "status = 'disabled'"],
  ['Not seen for an hour', "connectionState = 'Disconnected' AND lastActivityTime < AGO(3600)"],
  ['Battery below 20 %', 'properties.reported.battery < 20'],
  ['Firmware in error', "properties.reported.firmware.status = 'error'"],
  ['By tag', "tags.location = 'b43'"],
  ['Id starts with', "STARTSWITH(deviceId, 'sensor-')"],
  ['Several ids', "deviceId IN ['d1', 'd2']"],
  ['Reported a property', 'IS_DEFINED(properties.reported.firmware.version)'],
];

const SYSTEM_PATHS = ['deviceId', 'status', 'statusReason', 'statusUpdateTime', 'connectionState', 'lastActivityTime',
  'authenticationType', 'modelId', 'version', 'cloudToDeviceMessageCount', 'capabilities.iotEdge',
  'properties.desired.$version', 'properties.reported.$version'];
const KEYWORDS = ['AND', 'OR', 'NOT', 'IN', 'NIN', 'true', 'false', 'null', "'Connected'", "'Disconnected'", "'enabled'", "'disabled'"];
const FUNCTIONS = ['AGO(', 'IS_DEFINED(', 'IS_NULL(', 'IS_STRING(', 'IS_NUMBER(', 'IS_BOOL(', 'STARTSWITH(', 'ENDSWITH(',
  'CONTAINS(', 'LOWER(', 'UPPER(', 'LENGTH(', 'ABS(', 'ARRAY_CONTAINS('];

let pathCache = {at: 0, paths: null};

async function twinPaths(api) {
  if (pathCache.paths && Date.now() - pathCache.at < 60000) return pathCache.paths;
  try {
    const r = await api.get('/devicehub/twin-paths');
    pathCache = {at: Date.now(), paths: r.paths || []};
  } catch {
    pathCache = {at: Date.now(), paths: pathCache.paths || []};
  }
  return pathCache.paths;
}

const utf8 = new TextEncoder();
function byteLen(s) { return utf8.encode(s).length; }
// The character index of a byte offset into s.
function charIndex(s, bytes) {
  let b = 0;
  let i = 0;
  for (const ch of s) {
    if (b >= bytes) return i;
    b += byteLen(ch);
    i += ch.length;
  }
  return i;
}

export function parseFilters(raw) {
  try {
    const f = JSON.parse(raw || '[]');
    return Array.isArray(f) ? f.filter((x) => Array.isArray(x) && x.length === 2).map(([p, v]) => [String(p), String(v)]) : [];
  } catch { return []; }
}

// The WHERE condition of a query box text and tag filters: {condition, userOffset} (userOffset: where
// the user's text starts inside the condition, for error positions).
export function buildCondition(text, filters) {
  const user = text.trim().replace(/^select\s+\*\s+from\s+devices\s+where\s+/i, '');
  const clauses = filters.map(([p, v]) => `${p} = ${sqlString(v)}`);
  if (!user) return {condition: clauses.join(' AND '), userOffset: -1, user};
  if (!clauses.length) return {condition: user, userOffset: 0, user};
  return {condition: `(${user}) AND ${clauses.join(' AND ')}`, userOffset: 1, user};
}

export async function render(root, ctx) {
  const {api, events, toast} = ctx;
  const canOperate = ctx.can('operator');
  const isAdmin = ctx.can('admin');
  const createBtn = isAdmin ? h('button', {type: 'button', class: 'primary', testid: 'create-device', onclick: createDevice}, 'Create device') : null;
  pageRoot(root, 'devices', 'Devices', createBtn);
  root.dataset.page = 'devices';
  const offs = [];
  let disposed = false;

  let filters = parseFilters(ctx.params.f);
  let queryText = ctx.params.q || '';
  let pageTokens = [null];     // continuation token of each page seen; [0] = first page
  let pageIndex = 0;
  let rows = [];
  // Connection and status events that arrive while a page loads may be newer than the rows it answers
  // with (the server read them first): kept per device, newest wins, and applied to those rows.
  let sinceLoad = new Map();
  let listSeq = 0;
  let countSeq = 0;
  const selected = new Set();

  // ---- query box
  const input = h('input', {type: 'text', id: 'q-input', role: 'combobox', 'aria-autocomplete': 'list', 'aria-expanded': 'false',
    'aria-controls': 'q-suggest', 'aria-describedby': 'q-help q-error', autocomplete: 'off', spellcheck: 'false',
    placeholder: "e.g. connectionState = 'Connected' AND tags.location = 'b43'", value: queryText, testid: 'query-input'});
  const suggest = h('ul', {id: 'q-suggest', class: 'suggest', role: 'listbox', 'aria-label': 'Suggestions', hidden: true});
  const errorEl = h('div', {id: 'q-error', class: 'query-error-box', 'aria-live': 'polite', dataset: {testid: 'query-error'}});
  const runBtn = h('button', {type: 'submit', class: 'primary', testid: 'query-run'}, 'Search');
  const examplesMenu = h('details', {class: 'menu', dataset: {testid: 'query-examples'}},
    h('summary', {class: 'button'}, 'Examples'),
    h('ul', {}, EXAMPLES.map(([label, q]) => h('li', {}, h('button', {type: 'button', onclick: () => {
      examplesMenu.open = false;
      input.value = q;
      runQuery();
    }}, label, h('small', {}, q))))));
  const countEl = h('span', {class: 'muted', role: 'status', dataset: {testid: 'match-count'}});
  const chipsEl = h('div', {class: 'chips', role: 'group', 'aria-label': 'Tag filters'});
  const tagFilterBtn = h('button', {type: 'button', class: 'small', testid: 'add-tag-filter', onclick: addTagFilter}, '+ Tag filter');
  const form = h('form', {class: 'panel', role: 'search', 'aria-label': 'Device query'},
    h('label', {for: 'q-input', class: 'label-text'}, 'Query: the condition after WHERE'),
    h('div', {class: 'form-row'}, h('div', {class: 'query-box', style: {flex: '1 1 20rem'}}, input, suggest), runBtn, examplesMenu),
    h('small', {id: 'q-help', class: 'hint'}, 'Empty shows every device. Paths autocomplete as you type (↓ to pick, Tab or Enter to insert).'),
    errorEl,
    h('div', {class: 'toolbar'}, chipsEl, tagFilterBtn));
  form.addEventListener('submit', (e) => { e.preventDefault(); closeSuggest(); runQuery(); });
  root.append(form);

  // ---- list
  const selectPage = h('input', {type: 'checkbox', 'aria-label': 'Select every device on this page', testid: 'select-page', onchange: () => {
    for (const r of rows) selectPage.checked ? selected.add(r.deviceId) : selected.delete(r.deviceId);
    renderRows();
    renderSelection();
  }});
  const columns = [
    {key: 'check', label: h('span', {}, selectPage), class: 'check', render: (r) => h('input', {type: 'checkbox', checked: selected.has(r.deviceId),
      'aria-label': `Select ${r.deviceId}`, dataset: {testid: 'select-row'}, onchange: (e) => {
        e.target.checked ? selected.add(r.deviceId) : selected.delete(r.deviceId);
        e.target.closest('tr').classList.toggle('selected', e.target.checked);
        renderSelection();
      }})},
    {key: 'deviceId', label: 'Device', class: 'wrap-anywhere', render: (r) => h('a', {href: `#/devices/${encodeURIComponent(r.deviceId)}`}, r.deviceId)},
    {key: 'status', label: 'Status', render: (r) => h('span', {dataset: {cell: 'status'}}, statusBadge(r.status))},
    {key: 'connectionState', label: 'Connection', render: (r) => h('span', {dataset: {cell: 'connection'}}, connectionBadge(r.connectionState))},
    {key: 'lastActivityTime', label: 'Last activity', render: (r) => h('span', {dataset: {cell: 'activity'}}, timeEl(r.lastActivityTime))},
    {key: 'tags', label: 'Tags', render: (r) => tagCells(r.tags)},
  ];
  const tableWrap = table(columns, [], {caption: 'Devices matching the query', state: 'loading'});
  const tableEl = tableWrap.querySelector('table');
  tableEl.classList.add('cards');
  tableEl.dataset.testid = 'device-table';
  const newNotice = h('div');
  const selectionBar = h('div', {class: 'toolbar selection-bar', hidden: true, dataset: {testid: 'selection-bar'}});
  const prevBtn = h('button', {type: 'button', testid: 'page-prev', onclick: () => goPage(pageIndex - 1)}, '← Previous');
  const nextBtn = h('button', {type: 'button', testid: 'page-next', onclick: () => goPage(pageIndex + 1)}, 'Next →');
  const pageInfo = h('span', {class: 'muted', dataset: {testid: 'page-info'}});
  const rolloutLink = canOperate ? h('a', {class: 'button small', testid: 'rollout-query', href: '#/jobs/new'}, 'Rollout for this query') : null;
  root.append(h('section', {class: 'panel', 'aria-label': 'Device list'},
    h('div', {class: 'toolbar'}, countEl, h('span', {class: 'spacer'}), rolloutLink),
    newNotice, selectionBar, tableWrap,
    h('div', {class: 'pager'}, pageInfo, prevBtn, nextBtn)));

  function tagCells(tags) {
    const entries = Object.entries(tags || {}).filter(([, v]) => v === null || typeof v !== 'object').slice(0, 3);
    if (!entries.length) return h('span', {class: 'muted'}, '—');
    return h('span', {class: 'tag-list'}, entries.map(([k, v]) => h('button', {type: 'button', class: 'tag', title: `Filter by tags.${k} = ${v}`,
      onclick: () => addFilter(`tags.${k}`, String(v))}, `${k}=${v}`)));
  }

  function renderChips() {
    fill(chipsEl, filters.map(([p, v], i) => h('span', {class: 'chip', dataset: {testid: 'tag-chip'}}, `${p} = ${v}`,
      h('button', {type: 'button', 'aria-label': `Remove filter ${p} = ${v}`, onclick: () => {
        filters.splice(i, 1);
        runQuery();
      }}, '×'))));
  }

  function addFilter(path, value) {
    if (!filters.some(([p, v]) => p === path && v === value)) filters.push([path, value]);
    runQuery();
  }

  async function addTagFilter() {
    const paths = (await twinPaths(api)).filter((p) => p.startsWith('tags.'));
    const listId = 'tag-paths';
    await formDialog({
      title: 'Filter by tag',
      testid: 'tag-filter-dialog',
      submitLabel: 'Add filter',
      fields: [
        field('Tag', 'path', {value: paths[0] ? paths[0].slice(5) : '', attrs: {required: true, list: listId, testid: 'tag-filter-name'}, hint: 'The name under tags, e.g. location or site.region'}),
        h('datalist', {id: listId}, paths.map((p) => h('option', {value: p.slice(5)}))),
        field('Value', 'value', {attrs: {required: true, testid: 'tag-filter-value'}}),
      ],
      onSubmit: async (fd) => {
        const name = String(fd.get('path')).trim().replace(/^tags\./, '');
        if (!/^[A-Za-z_$][A-Za-z0-9_$]*(\.[A-Za-z0-9_$-]+)*$/.test(name)) throw new Error('A tag name is letters, digits, _ and $, with dots between levels.');
        addFilter(`tags.${name}`, String(fd.get('value')));
        return true;
      },
    });
  }

  function currentCondition() {
    return buildCondition(input.value, filters);
  }

  function listSql(condition) {
    return `SELECT * FROM devices${condition ? ` WHERE ${condition}` : ''}`;
  }

  // Keeps the address in step with the query without re-rendering the page.
  function syncHash() {
    const q = input.value.trim();
    const hash = hashWith('/devices', {q, f: filters.length ? JSON.stringify(filters) : ''});
    if (location.hash !== hash) history.replaceState(null, '', hash);
    if (rolloutLink) {
      const {condition} = currentCondition();
      rolloutLink.href = hashWith('/jobs/new', {query: condition});
    }
  }

  function showQueryError(err, sqlPrefixBytes, condition, userOffset, user) {
    const m = /at position (\d+)/.exec(err.message || '');
    input.setAttribute('aria-invalid', 'true');
    if (!m || userOffset < 0) {
      fill(errorEl, h('p', {class: 'form-error', role: 'alert'}, err.message));
      return;
    }
    const posInCondition = charIndex(condition, Math.max(0, parseInt(m[1], 10) - sqlPrefixBytes));
    const pos = posInCondition - userOffset;
    const text = pos >= 0 && pos <= user.length ? user : condition;
    const at = pos >= 0 && pos <= user.length ? pos : posInCondition;
    fill(errorEl, h('div', {role: 'alert'},
      h('pre', {class: 'query-error', 'aria-hidden': 'true'}, text, '\n', ' '.repeat(Math.max(0, at)), h('span', {class: 'caret'}, '^')),
      h('p', {class: 'form-error'}, err.message.replace(/at position \d+/, `at character ${at + 1}${text === user ? '' : ' (with the tag filters)'}`))));
    if (text === user) {
      // Put the cursor where the error is (the box holds the user's text with leading blanks trimmed).
      const lead = input.value.length - input.value.trimStart().length;
      const stripped = input.value.trim().length - user.length;
      try { input.setSelectionRange(lead + stripped + at, lead + stripped + at); } catch { /* not focused */ }
    }
  }

  function clearQueryError() {
    input.removeAttribute('aria-invalid');
    errorEl.replaceChildren();
  }

  function runQuery() {
    pageTokens = [null];
    pageIndex = 0;
    renderChips();
    syncHash();
    newNotice.replaceChildren();
    loadPage();
    loadCount();
  }

  async function goPage(i) {
    if (i < 0 || i >= pageTokens.length || (i > 0 && !pageTokens[i])) return;
    pageIndex = i;
    await loadPage();
    tableEl.scrollIntoView({block: 'nearest'});
  }

  async function loadPage() {
    const seq = ++listSeq;
    sinceLoad = new Map();
    const {condition, userOffset, user} = currentCondition();
    const sql = listSql(condition);
    if (byteLen(sql) > MAX_QUERY_BYTES) {
      setRows(tableEl, columns, [], {state: 'error', error: new Error('The query is longer than 8192 bytes.')});
      return;
    }
    setRows(tableEl, columns, [], {state: 'loading'});
    prevBtn.disabled = true;
    nextBtn.disabled = true;
    try {
      const r = await api.query(sql, {top: PAGE_SIZE, continuationToken: pageTokens[pageIndex]});
      if (disposed || seq !== listSeq) return;
      clearQueryError();
      rows = r.items;
      for (const row of rows) {
        for (const key of [`c:${row.deviceId}`, `u:${row.deviceId}`]) if (sinceLoad.has(key)) applyLive(row, sinceLoad.get(key));
      }
      pageTokens[pageIndex + 1] = r.continuationToken;
      pageTokens.length = pageIndex + 2;
      renderRows();
    } catch (e) {
      if (disposed || seq !== listSeq) return;
      rows = [];
      if (e.status === 400) {
        showQueryError(e, byteLen('SELECT * FROM devices WHERE '), condition, userOffset, user);
        setRows(tableEl, columns, [], {state: 'error', error: new Error('Fix the query above.')});
        countEl.textContent = '';
        countSeq++;
      } else setRows(tableEl, columns, [], {state: 'error', error: e, retry: loadPage});
    }
    renderPager();
  }

  function renderRows() {
    setRows(tableEl, columns, rows, {
      empty: filters.length || input.value.trim() ? 'No device matches this query.' : 'No devices yet.',
      rowAttrs: (r) => ({class: selected.has(r.deviceId) ? 'selected' : '', dataset: {deviceId: r.deviceId}}),
    });
    selectPage.checked = rows.length > 0 && rows.every((r) => selected.has(r.deviceId));
    selectPage.indeterminate = !selectPage.checked && rows.some((r) => selected.has(r.deviceId));
    renderPager();
  }

  function renderPager() {
    prevBtn.disabled = pageIndex === 0;
    nextBtn.disabled = !pageTokens[pageIndex + 1];
    const first = pageIndex * PAGE_SIZE + 1;
    pageInfo.textContent = rows.length ? `Devices ${fmtNumber(first)}–${fmtNumber(first + rows.length - 1)} · page ${pageIndex + 1}` : '';
  }

  async function loadCount() {
    const seq = ++countSeq;
    const {condition} = currentCondition();
    countEl.textContent = 'counting…';
    try {
      const r = await api.query(`SELECT COUNT() AS n FROM devices${condition ? ` WHERE ${condition}` : ''}`, {top: 1});
      if (disposed || seq !== countSeq) return;
      const n = r.items[0]?.n ?? 0;
      countEl.textContent = `${fmtNumber(n)} device${n === 1 ? '' : 's'} match${n === 1 ? 'es' : ''}`;
      countEl.dataset.count = String(n);
    } catch (e) {
      if (disposed || seq !== countSeq) return;
      countEl.textContent = e.status === 400 ? '' : 'count unavailable';
    }
  }

  // ---- selection and actions
  function selectedCondition() {
    return `deviceId IN [${[...selected].map(sqlString).join(', ')}]`;
  }

  function renderSelection() {
    if (!selected.size) {
      selectionBar.hidden = true;
      return;
    }
    selectionBar.hidden = false;
    const cond = selectedCondition();
    const tooLong = byteLen(cond) > MAX_QUERY_BYTES - 200;
    fill(selectionBar,
      h('strong', {dataset: {testid: 'selected-count'}}, `${fmtNumber(selected.size)} selected`),
      canOperate ? h('button', {type: 'button', class: 'small', testid: 'action-method', onclick: () => runMethod('selected')}, 'Run method…') : null,
      canOperate ? h('button', {type: 'button', class: 'small', testid: 'action-patch', onclick: () => patchTwins('selected')}, 'Patch twins…') : null,
      canOperate && !tooLong ? h('a', {class: 'button small', testid: 'action-rollout', href: hashWith('/jobs/new', {query: cond})}, 'Start rollout…') : null,
      tooLong ? h('span', {class: 'muted'}, 'Too many for one query: act on the query instead.') : null,
      h('span', {class: 'spacer'}),
      h('button', {type: 'button', class: 'small', testid: 'selection-clear', onclick: () => { selected.clear(); renderRows(); renderSelection(); }}, 'Clear selection'));
  }

  function scopeField() {
    const {condition} = currentCondition();
    return field('Devices', 'scope', {type: 'select', options: [
      ['selected', `The ${fmtNumber(selected.size)} selected device${selected.size === 1 ? '' : 's'}`],
      ['query', `Every device matching the query${countEl.dataset.count ? ` (${fmtNumber(Number(countEl.dataset.count))})` : ''}${condition ? '' : ' (all devices)'}`],
    ]});
  }

  function scopeCondition(scope) {
    if (scope === 'selected') {
      const c = selectedCondition();
      if (byteLen(c) > MAX_QUERY_BYTES - 200) throw new Error('Too many devices selected for one query; choose "every device matching the query".');
      return c;
    }
    const {condition} = currentCondition();
    return condition || 'IS_DEFINED(deviceId)';
  }

  function parseJson(text, what) {
    try { return JSON.parse(text); } catch (e) { throw new Error(`${what} is not valid JSON: ${e.message}`); }
  }

  function newJobId(kind) {
    return `ui-${kind}-${new Date().toISOString().replace(/[-:.TZ]/g, '').slice(0, 14)}-${Math.random().toString(36).slice(2, 6)}`;
  }

  async function runMethod() {
    await formDialog({
      title: 'Run a direct method',
      testid: 'method-job-dialog',
      submitLabel: 'Start job',
      fields: [
        scopeField(),
        field('Method name', 'methodName', {attrs: {required: true, maxlength: 128, testid: 'job-method-name'}}),
        field('Payload (JSON)', 'payload', {type: 'textarea', rows: 4, value: '{}', attrs: {testid: 'job-method-payload'}}),
        field('Answer timeout (seconds, 5–300)', 'timeout', {type: 'number', value: '30', attrs: {min: 5, max: 300, required: true}}),
      ],
      onSubmit: async (fd) => {
        const jobId = newJobId('method');
        const body = {jobId, type: 'scheduleDeviceMethod', queryCondition: scopeCondition(fd.get('scope')),
          cloudToDeviceMethod: {methodName: String(fd.get('methodName')).trim(), payload: parseJson(fd.get('payload') || 'null', 'The payload'),
            responseTimeoutInSeconds: parseInt(fd.get('timeout'), 10)}, startTime: null, maxExecutionTimeInSeconds: 3600};
        await api.put(`/jobs/v2/${encodeURIComponent(jobId)}`, body);
        toast(`Job ${jobId} started.`, 'ok');
        ctx.navigate(`#/jobs/${encodeURIComponent(jobId)}`);
        return jobId;
      },
    });
  }

  async function patchTwins() {
    await formDialog({
      title: 'Patch twins',
      testid: 'patch-job-dialog',
      submitLabel: 'Start job',
      fields: [
        scopeField(),
        field('Patch (JSON): tags and/or properties.desired', 'patch', {type: 'textarea', rows: 8,
          value: '{\n  "tags": {},\n  "properties": {"desired": {}}\n}', attrs: {testid: 'job-patch'}}),
      ],
      onSubmit: async (fd) => {
        const patch = parseJson(fd.get('patch'), 'The patch');
        if (!patch || typeof patch !== 'object' || Array.isArray(patch)) throw new Error('The patch must be a JSON object.');
        const jobId = newJobId('twin');
        const updateTwin = {etag: '*'};
        if (patch.tags && Object.keys(patch.tags).length) updateTwin.tags = patch.tags;
        if (patch.properties?.desired && Object.keys(patch.properties.desired).length) updateTwin.properties = {desired: patch.properties.desired};
        if (!updateTwin.tags && !updateTwin.properties) throw new Error('The patch changes nothing: add tags or desired properties.');
        await api.put(`/jobs/v2/${encodeURIComponent(jobId)}`, {jobId, type: 'scheduleUpdateTwin', queryCondition: scopeCondition(fd.get('scope')),
          updateTwin, startTime: null, maxExecutionTimeInSeconds: 3600});
        toast(`Job ${jobId} started.`, 'ok');
        ctx.navigate(`#/jobs/${encodeURIComponent(jobId)}`);
        return jobId;
      },
    });
  }

  async function createDevice() {
    await formDialog({
      title: 'Create a device',
      testid: 'create-device-dialog',
      submitLabel: 'Create',
      fields: [
        field('Device ID', 'deviceId', {attrs: {required: true, maxlength: 128, testid: 'new-device-id'},
          hint: 'Letters, digits and - . % _ * ? ! ( ) , : = @ $ \' (at most 128). Keys are generated.'}),
        field('Status', 'status', {type: 'select', options: [['enabled', 'enabled'], ['disabled', 'disabled']], value: 'enabled'}),
      ],
      onSubmit: async (fd) => {
        const id = String(fd.get('deviceId')).trim();
        if (!/^[A-Za-z0-9\-.%_*?!(),:=@$']{1,128}$/.test(id)) throw new Error("A device ID is 1 to 128 letters, digits and - . % _ * ? ! ( ) , : = @ $ '");
        try {
          await api.request('GET', `/devices/${encodeURIComponent(id)}`);
          throw new Error(`A device named ${id} exists already.`);
        } catch (e) {
          if (e.status !== 404) throw e;
        }
        await api.put(`/devices/${encodeURIComponent(id)}`, {deviceId: id, status: fd.get('status'),
          authentication: {type: 'sas', symmetricKey: {primaryKey: null, secondaryKey: null}}});
        toast(`Device ${id} created.`, 'ok');
        ctx.navigate(`#/devices/${encodeURIComponent(id)}`);
        return id;
      },
    });
  }

  // ---- autocomplete
  let suggestions = [];
  let active = -1;
  const tokenAt = () => {
    const caret = input.selectionStart ?? input.value.length;
    const before = input.value.slice(0, caret);
    const m = /[A-Za-z0-9_$.[\]']*$/.exec(before);
    return {start: caret - m[0].length, end: caret, word: m[0]};
  };
  async function updateSuggest() {
    const {word} = tokenAt();
    if (word.length < 1) { closeSuggest(); return; }
    const paths = await twinPaths(api);
    const lw = word.toLowerCase();
    const pool = [...new Set([...SYSTEM_PATHS, ...paths, 'tags.', 'properties.reported.', 'properties.desired.', ...FUNCTIONS, ...KEYWORDS])];
    suggestions = pool.filter((s) => s.toLowerCase().startsWith(lw) && s.toLowerCase() !== lw).slice(0, 12);
    if (!suggestions.length) {
      // Anything containing the word after a dot: "battery" finds properties.reported.battery.
      suggestions = pool.filter((s) => s.toLowerCase().includes(`.${lw}`)).slice(0, 12);
    }
    active = -1;
    if (!suggestions.length) { closeSuggest(); return; }
    fill(suggest, suggestions.map((s, i) => h('li', {id: `q-opt-${i}`, role: 'option', 'aria-selected': 'false',
      onmousedown: (e) => { e.preventDefault(); accept(i); }}, s)));
    suggest.hidden = false;
    input.setAttribute('aria-expanded', 'true');
  }
  const updateSuggestSoon = debounce(updateSuggest, 120);
  function closeSuggest() {
    suggest.hidden = true;
    input.setAttribute('aria-expanded', 'false');
    input.removeAttribute('aria-activedescendant');
    active = -1;
  }
  function setActive(i) {
    active = (i + suggestions.length) % suggestions.length;
    [...suggest.children].forEach((li, j) => li.setAttribute('aria-selected', String(j === active)));
    input.setAttribute('aria-activedescendant', `q-opt-${active}`);
    suggest.children[active]?.scrollIntoView({block: 'nearest'});
  }
  function accept(i) {
    const {start, end} = tokenAt();
    const s = suggestions[i];
    const after = input.value.slice(end);
    const insert = s + (s.endsWith('.') || s.endsWith('(') ? '' : ' ');
    input.value = input.value.slice(0, start) + insert + after;
    const caret = start + insert.length;
    input.setSelectionRange(caret, caret);
    closeSuggest();
    input.focus();
    if (s.endsWith('.')) updateSuggest();
  }
  input.addEventListener('input', () => { clearQueryError(); updateSuggestSoon(); });
  input.addEventListener('keydown', (e) => {
    if (suggest.hidden) {
      if (e.key === 'ArrowDown' && e.altKey) updateSuggest();
      return;
    }
    if (e.key === 'ArrowDown') { e.preventDefault(); setActive(active + 1); }
    else if (e.key === 'ArrowUp') { e.preventDefault(); setActive(active - 1); }
    else if ((e.key === 'Enter' || e.key === 'Tab') && active >= 0) { e.preventDefault(); accept(active); }
    else if (e.key === 'Tab' && suggestions.length === 1) { e.preventDefault(); accept(0); }
    else if (e.key === 'Escape') { e.preventDefault(); closeSuggest(); }
  });
  input.addEventListener('blur', () => setTimeout(closeSuggest, 150));
  document.addEventListener('click', onDocClick);
  function onDocClick(e) {
    if (examplesMenu.open && !examplesMenu.contains(e.target)) examplesMenu.open = false;
  }

  // ---- live
  function rowFor(id) {
    return tableEl.querySelector(`tr[data-device-id="${CSS.escape(id)}"]`);
  }
  function applyLive(r, ev) {
    if (ev.type === 'device.updated') {
      r.status = ev.status;
      return;
    }
    r.connectionState = ev.type === 'device.connected' ? 'Connected' : 'Disconnected';
    r.lastActivityTime = ev.time || new Date().toISOString();
  }
  function onConnection(ev) {
    if (ev.moduleId) return;
    sinceLoad.set(`c:${ev.deviceId}`, ev);
    const r = rows.find((x) => x.deviceId === ev.deviceId);
    if (!r) return;
    applyLive(r, ev);
    const tr = rowFor(ev.deviceId);
    if (tr) {
      fill(tr.querySelector('[data-cell="connection"]'), connectionBadge(r.connectionState));
      fill(tr.querySelector('[data-cell="activity"]'), timeEl(r.lastActivityTime));
    }
  }
  offs.push(events.on('device.connected', onConnection));
  offs.push(events.on('device.disconnected', onConnection));
  offs.push(events.on('device.updated', (ev) => {
    if (!ev.status || ev.moduleId) return;
    sinceLoad.set(`u:${ev.deviceId}`, ev);
    const r = rows.find((x) => x.deviceId === ev.deviceId);
    if (!r) return;
    applyLive(r, ev);
    const tr = rowFor(ev.deviceId);
    if (tr) fill(tr.querySelector('[data-cell="status"]'), statusBadge(r.status));
  }));
  let added = 0;
  let removed = 0;
  let bulk = 0;   // bulk calls and import batches: they say how many entries, not what each did
  function changedNotice() {
    fill(newNotice, h('div', {class: 'notice', role: 'status', dataset: {testid: 'list-changed'}},
      [added ? `${fmtNumber(added)} device${added === 1 ? '' : 's'} created` : '', removed ? `${fmtNumber(removed)} deleted` : '',
        bulk ? `${fmtNumber(bulk)} bulk change${bulk === 1 ? '' : 's'}` : ''].filter(Boolean).join(', '),
      ' since the list was loaded. ',
      h('button', {type: 'button', class: 'link', onclick: () => { added = 0; removed = 0; bulk = 0; loadPage(); loadCount(); newNotice.replaceChildren(); }}, 'Refresh')));
  }
  offs.push(events.on('device.created', () => { added++; changedNotice(); }));
  // Bulk creates and imports come as one summary: the list says it may have changed.
  offs.push(events.on('registry.bulk', () => { bulk++; changedNotice(); }));
  offs.push(events.on('device.deleted', (ev) => {
    removed++;
    changedNotice();
    const tr = rowFor(ev.deviceId);
    if (tr) tr.classList.add('muted');
  }));
  offs.push(events.onResync(() => { loadPage(); loadCount(); }));

  renderChips();
  syncHash();
  loadCount();
  await loadPage();
  twinPaths(api);

  return () => {
    disposed = true;
    offs.forEach((off) => off());
    document.removeEventListener('click', onDocClick);
  };
}
