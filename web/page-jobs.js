// page-jobs.js (#/jobs): jobs and rollouts with status, kind, action and progress. Filters by status
// (server side, jobStatus) and kind (rollouts are jobs with a policy; method/twin by jobType). Kept live by
// job.progress events: a known job's row is updated in place, an unknown one refetches the list.

import {h, pageRoot, table, setRows, timeEl, fmtNumber, throttle} from './ui.js';
import {allowed, applyProgress, jobStatusBadge, isRollout, jobAction, statsBar} from './ops.js';

const PAGE = 1000;

export async function render(root, ctx) {
  const {api, events} = ctx;
  const actions = [];
  if (allowed(ctx, 'operator')) {
    actions.push(h('a', {href: '#/jobs/new', class: 'button primary', testid: 'job-new'}, 'New job or rollout'));
  }
  pageRoot(root, 'jobs', 'Jobs and rollouts', actions);

  const status = h('select', {id: 'jobs-status', testid: 'jobs-filter-status'},
    [['', 'Any status'], ['queued', 'Queued'], ['running', 'Running'], ['completed', 'Completed'],
      ['failed', 'Failed'], ['cancelled', 'Cancelled']].map(([v, l]) => h('option', {value: v}, l)));
  const kind = h('select', {id: 'jobs-kind', testid: 'jobs-filter-type'},
    [['', 'Any type'], ['rollout', 'Rollouts'], ['job', 'Plain jobs'], ['scheduleDeviceMethod', 'Direct method'],
      ['scheduleUpdateTwin', 'Twin update']].map(([v, l]) => h('option', {value: v}, l)));
  status.value = ctx.params.status || '';
  kind.value = ctx.params.type || '';
  const summary = h('p', {class: 'muted', role: 'status', testid: 'jobs-summary'});
  root.append(h('form', {class: 'filters', role: 'search', 'aria-label': 'Filter jobs', onsubmit: (e) => e.preventDefault()},
    h('div', {class: 'field inline'}, h('label', {for: 'jobs-status'}, 'Status'), status),
    h('div', {class: 'field inline'}, h('label', {for: 'jobs-kind'}, 'Type'), kind), summary));

  const columns = [
    {label: 'Job', render: (j) => h('a', {href: `#/jobs/${encodeURIComponent(j.jobId)}`, testid: 'job-link'}, j.jobId)},
    {label: 'Type', render: (j) => h('span', {}, isRollout(j) ? 'Rollout' : 'Job', h('br'), h('small', {class: 'muted'}, jobAction(j)))},
    {label: 'Status', render: (j) => h('span', {class: 'status-cell'}, jobStatusBadge(j.status),
      j.paused ? h('span', {class: 'badge warn'}, 'paused') : null,
      j.awaitingApproval ? h('span', {class: 'badge warn', testid: 'awaiting-approval'}, 'awaiting approval') : null)},
    {label: 'Progress', class: 'col-progress', render: (j) => statsBar(j.deviceJobStatistics, j.jobId)},
    {label: 'Devices', class: 'num', render: (j) => fmtNumber((j.deviceJobStatistics || {}).deviceCount)},
    {label: 'Created', render: (j) => timeEl(j.createdTime)},
  ];
  const tableEl = table(columns, [], {caption: 'Jobs and rollouts, newest first',
    empty: 'No jobs yet.', state: 'loading',
    rowAttrs: (j) => ({dataset: {jobId: j.jobId, testid: 'job-row', status: j.status}})});
  const more = h('button', {type: 'button', hidden: true, testid: 'jobs-more', onclick: () => load(true)}, 'Load more');
  root.append(tableEl, more);

  let jobs = [];
  let token = null;
  let seq = 0;

  function visible() {
    const k = kind.value;
    return jobs.filter((j) => !k || (k === 'rollout' ? isRollout(j) : k === 'job' ? !isRollout(j) : true));
  }

  function draw() {
    const rows = visible().sort((a, b) => (b.createdTime || '').localeCompare(a.createdTime || ''));
    const any = status.value || kind.value;
    setRows(tableEl, columns, rows, {empty: any ? 'No job matches these filters.' : 'No jobs yet. Start one from the devices page or with “New job or rollout”.',
      rowAttrs: (j) => ({dataset: {jobId: j.jobId, testid: 'job-row', status: j.status}})});
    const running = rows.filter((j) => j.status === 'running').length;
    summary.textContent = `${fmtNumber(rows.length)} shown${running ? `, ${running} running` : ''}${token ? ' (more available)' : ''}`;
    more.hidden = !token;
  }

  // job.progress events that arrive while a load is in flight may be newer than its answer (the server
  // read it first): kept per job, newest wins, and applied to the answer, so that a job's last status
  // (after which no event comes) is never replaced by an older one.
  let sinceLoad = new Map();
  async function load(append = false) {
    const mine = ++seq;
    sinceLoad = new Map();
    const q = new URLSearchParams();
    if (status.value) q.set('jobStatus', status.value);
    const k = kind.value;
    if (k === 'scheduleDeviceMethod' || k === 'scheduleUpdateTwin') q.set('jobType', k);
    const headers = {'x-ms-max-item-count': String(PAGE)};
    if (append && token) headers['x-ms-continuation'] = token;
    if (!append) setRows(tableEl, columns, [], {state: 'loading'});
    try {
      const r = await api.request('GET', `/jobs/v2/query${q.toString() ? `?${q}` : ''}`, {headers});
      if (mine !== seq) return;
      const items = Array.isArray(r.data) ? r.data : [];
      for (const j of items) if (sinceLoad.has(j.jobId)) applyProgress(j, sinceLoad.get(j.jobId));
      jobs = append ? jobs.concat(items) : items;
      token = r.headers.get('x-ms-continuation');
      draw();
    } catch (e) {
      if (mine !== seq) return;
      setRows(tableEl, columns, [], {state: 'error', error: e, retry: () => load()});
      summary.textContent = '';
    }
  }

  const onFilter = () => {
    const q = new URLSearchParams();
    if (status.value) q.set('status', status.value);
    if (kind.value) q.set('type', kind.value);
    history.replaceState(null, '', `#/jobs${q.toString() ? `?${q}` : ''}`);
    load();
  };
  status.addEventListener('change', onFilter);
  kind.addEventListener('change', onFilter);

  // A new job, or one that changed status so that it enters or leaves the filter: refetch (throttled).
  const reload = throttle(() => load(), 1000);
  const off = [
    events.on('job.progress', (ev) => {
      sinceLoad.set(ev.jobId, ev);
      const j = jobs.find((x) => x.jobId === ev.jobId);
      if (!j) { reload(); return; }
      const statusChanged = applyProgress(j, ev);
      if (statusChanged && status.value) reload();
      else draw();
    }),
    events.onResync(() => reload()),
  ];
  await load();
  return () => { reload.cancel(); off.forEach((f) => f()); seq++; };
}
