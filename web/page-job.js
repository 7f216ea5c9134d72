// page-job.js (#/jobs/<id>): one job or rollout. For rollouts a funnel per phase (pending → running →
// verifying → succeeded / failed), failures grouped by error code, firmware compliance for firmware
// rollouts, and the controls that apply now (pause, resume, approve the next phase, retry the failed,
// cancel) for operators and admins, each behind a confirm dialog. Plain jobs show their statistics and
// cancel. Per-device outcomes are paged through the query language (SELECT * FROM devices.jobs), filtered
// by status or error code. Live: job.progress updates the counts at once; job.progress, rollout.phase and
// device.failed events of this job refetch the rollout (at most once a second) — no polling.
// The page subscribes before its first load and never lets an older state replace a newer one: an event
// can overtake a fetch in flight (the server read its snapshot before the change the event reports) and
// two fetches can answer out of order. A rollout that then goes quiet (awaiting approval, completed) sends
// no later event to correct the screen, so it would stay wrong until a reload.

import {h, fill, pageRoot, table, setRows, timeEl, fmtNumber, throttle, confirmDialog, errorBox, loading,
  sqlString, formatTime} from './ui.js';
import {enc} from './api.js';
import {allowed, applyProgress, FINISHED, jobStatusBadge, isRollout, jobAction, statsBar, facts, errorText} from './ops.js';

const ROW_STATUSES = ['pending', 'scheduled', 'running', 'verifying', 'completed', 'failed', 'canceled'];

// The funnel of one phase: each stage's count and share of the phase's devices.
function funnel(ph, i, job) {
  const total = ph.deviceCount || 0;
  const verifying = ph.verifyingCount || 0;
  const stages = [
    ['pending', 'Pending', ph.pendingCount || 0],
    ['running', 'Running', Math.max(0, (ph.runningCount || 0) - verifying)],
    ['verifying', 'Verifying', verifying],
    ['succeeded', 'Succeeded', ph.succeededCount || 0],
    ['failed', 'Failed', ph.failedCount || 0],
  ];
  if (ph.retryingCount) stages.push(['retrying', 'Waiting to retry', ph.retryingCount]);
  if (ph.canceledCount) stages.push(['canceled', 'Canceled', ph.canceledCount]);
  const def = ((job.policy && job.policy.phases) || [])[i] || {};
  const current = job.currentPhase === i && !FINISHED.has(job.status);
  let state = '';
  if (current && job.awaitingApproval) state = 'awaiting approval';
  else if (current) state = job.paused ? 'current (paused)' : 'current';
  else if (i < job.currentPhase) state = 'done';
  else if (!FINISHED.has(job.status)) state = 'not started';
  const title = `Phase ${i + 1}${def.name ? `: ${def.name}` : ''}`;
  const scope = def.percent !== undefined && def.percent !== null ? `up to ${def.percent}% of targets`
    : def.condition ? def.condition : '';
  return h('li', {class: `phase${current ? ' current' : ''}`, dataset: {testid: 'phase', phase: String(i), state}},
    h('div', {class: 'phase-head'}, h('h3', {}, title), scope ? h('span', {class: 'muted'}, scope) : null,
      state ? h('span', {class: `badge ${state === 'awaiting approval' ? 'warn' : state === 'done' ? 'ok' : ''}`}, state) : null,
      h('span', {class: 'muted phase-total'}, `${fmtNumber(total)} ${total === 1 ? 'device' : 'devices'}`)),
    h('ol', {class: 'funnel', 'aria-label': `${title} funnel`}, stages.map(([k, label, n]) =>
      h('li', {class: `stage stage-${k}`, dataset: {stage: k, count: String(n)}},
        h('span', {class: 'stage-label'}, label),
        h('span', {class: 'stage-bar', 'aria-hidden': 'true'}, h('span', {class: `seg seg-${k}`, style: {width: total ? `${(100 * n) / total}%` : '0%'}})),
        h('span', {class: 'stage-count'}, fmtNumber(n))))));
}

export async function render(root, ctx) {
  const {api, events} = ctx;
  const id = ctx.params.id;
  pageRoot(root, 'job', `Job ${id}`, h('a', {href: '#/jobs', class: 'button'}, 'All jobs'));
  const body = h('div', {class: 'stack'}, loading());
  root.append(body);

  let job = null;
  let gone = false;
  const head = h('section', {class: 'panel', 'aria-labelledby': 'job-summary-h'});
  const controls = h('div', {class: 'toolbar job-controls', role: 'group', 'aria-label': 'Job controls', testid: 'job-controls'});
  const phasesBox = h('section', {class: 'panel', 'aria-labelledby': 'phases-h', testid: 'phases-panel'});
  const failuresBox = h('section', {class: 'panel', 'aria-labelledby': 'failures-h', testid: 'failures-panel'});
  const complianceBox = h('section', {class: 'panel', 'aria-labelledby': 'compliance-h', hidden: true, testid: 'compliance-panel'});
  const devicesBox = h('section', {class: 'panel', 'aria-labelledby': 'devices-h', testid: 'devices-panel'});

  // --- Devices table (query language, paged with continuation tokens)
  const statusFilter = h('select', {id: 'dev-status', testid: 'devices-filter-status'},
    h('option', {value: ''}, 'Any status'), ROW_STATUSES.map((s) => h('option', {value: s}, s)));
  const codeFilter = h('select', {id: 'dev-code', testid: 'devices-filter-code'}, h('option', {value: ''}, 'Any error'));
  const devColumns = [
    {label: 'Device', render: (r) => h('a', {href: `#/devices/${enc(r.deviceId)}`}, r.moduleId ? `${r.deviceId}/${r.moduleId}` : r.deviceId)},
    {label: 'Status', render: (r) => jobStatusBadge(r.status)},
    {label: 'Error', render: (r) => (r.error ? h('span', {}, h('code', {}, r.error.code), r.error.description ? h('small', {class: 'muted block'}, r.error.description) : null) : null)},
    {label: 'Answer', render: (r) => {
      const m = r.outcome && r.outcome.deviceMethodResponse;
      return m ? h('span', {title: JSON.stringify(m.payload)}, String(m.status)) : null;
    }},
    {label: 'Started', render: (r) => (r.startTimeUtc ? formatTime(r.startTimeUtc) : null)},
    {label: 'Ended', render: (r) => (r.endTimeUtc ? formatTime(r.endTimeUtc) : null)},
  ];
  const devTable = table(devColumns, [], {caption: 'Per-device outcomes', state: 'loading',
    rowAttrs: (r) => ({dataset: {testid: 'device-row', deviceId: r.deviceId, status: r.status}})});
  devTable.querySelector('table').classList.add('cards');
  const devSummary = h('p', {class: 'muted', role: 'status', testid: 'devices-summary'});
  const prevBtn = h('button', {type: 'button', class: 'small', testid: 'devices-prev'}, 'Previous page');
  const nextBtn = h('button', {type: 'button', class: 'small', testid: 'devices-next'}, 'Next page');
  const PAGE = 25;
  let pageTokens = [null];
  let pageIndex = 0;
  let devSeq = 0;
  let devRows = [];

  function devQuery() {
    let sql = `SELECT * FROM devices.jobs WHERE jobId = ${sqlString(id)}`;
    if (statusFilter.value) sql += ` AND status = ${sqlString(statusFilter.value)}`;
    if (codeFilter.value) sql += ` AND error.code = ${sqlString(codeFilter.value)}`;
    return sql;
  }
  async function loadDevices(index = 0) {
    const mine = ++devSeq;
    if (index === 0) pageTokens = [null];
    try {
      const r = await api.query(devQuery(), {top: PAGE, continuationToken: pageTokens[index]});
      if (mine !== devSeq) return;
      pageIndex = index;
      pageTokens[index + 1] = r.continuationToken;
      devRows = r.items;
      setRows(devTable, devColumns, devRows, {empty: statusFilter.value || codeFilter.value ? 'No device of this job matches the filter.'
        : job && (job.status === 'queued' || job.status === 'scheduled') ? 'No devices yet: they are resolved when the job starts.' : 'This job has no devices.',
        rowAttrs: (row) => ({dataset: {testid: 'device-row', deviceId: row.deviceId, status: row.status}})});
      devSummary.textContent = devRows.length ? `Page ${index + 1}: devices ${index * PAGE + 1}–${index * PAGE + devRows.length}` : '';
      prevBtn.disabled = index === 0;
      nextBtn.disabled = !r.continuationToken;
    } catch (e) {
      if (mine !== devSeq) return;
      setRows(devTable, devColumns, [], {state: 'error', error: e, retry: () => loadDevices(pageIndex)});
    }
  }
  prevBtn.addEventListener('click', () => loadDevices(Math.max(0, pageIndex - 1)));
  nextBtn.addEventListener('click', () => loadDevices(pageIndex + 1));
  statusFilter.addEventListener('change', () => loadDevices(0));
  codeFilter.addEventListener('change', () => loadDevices(0));
  fill(devicesBox, h('div', {class: 'panel-head'}, h('h2', {id: 'devices-h'}, 'Devices')),
    h('div', {class: 'filters'},
      h('div', {class: 'field inline'}, h('label', {for: 'dev-status'}, 'Status'), statusFilter),
      h('div', {class: 'field inline'}, h('label', {for: 'dev-code'}, 'Error code'), codeFilter), devSummary),
    devTable, h('div', {class: 'pager'}, prevBtn, nextBtn));

  // --- Controls
  const canControl = allowed(ctx, 'operator');
  async function control(action, {title, message, label, danger, done}) {
    const ok = await confirmDialog({title, message, confirmLabel: label, danger});
    if (!ok) return;
    try {
      const path = isRollout(job) || action !== 'cancel' ? `/devicehub/rollouts/${enc(id)}/${action}` : `/jobs/v2/${enc(id)}/cancel`;
      // The answer is the rollout as the change left it: drawn like a fetch's (see load).
      const drew = await load(() => api.post(path, {}));
      ctx.toast(done || `${label}: done`, 'ok');
      if (!drew) refresh();
      if (action === 'retry') loadDevices(0);
    } catch (e) {
      ctx.toast(`${label} failed: ${errorText(e)}`, 'error');
      refresh();
    }
  }
  function drawControls() {
    fill(controls);
    if (!canControl || !job || FINISHED.has(job.status)) return;
    const st = job.deviceJobStatistics || {};
    const btn = (action, label, opts, cls = '') => h('button', {type: 'button', class: cls, testid: `job-${action}`,
      onclick: () => control(action, {label, ...opts})}, label);
    if (isRollout(job)) {
      if (job.awaitingApproval) {
        const next = job.currentPhase + 2;
        controls.append(btn('approve', `Approve phase ${next}`, {title: `Start phase ${next}?`,
          message: `Phase ${job.currentPhase + 1} finished and passed its gate. Approving starts phase ${next} of rollout ${id}.`,
          done: `Phase ${next} started`}, 'primary'));
      }
      if (job.paused) controls.append(btn('resume', 'Resume', {title: 'Resume the rollout?', message: 'Devices will start again as the policy allows.', done: 'Rollout resumed'}, 'primary'));
      else controls.append(btn('pause', 'Pause', {title: 'Pause the rollout?', message: 'No new device starts; devices in flight finish.', done: 'Rollout paused'}));
      if (st.failedCount > 0) {
        controls.append(btn('retry', `Retry ${fmtNumber(st.failedCount)} failed`, {title: 'Retry the failed devices?',
          message: `${fmtNumber(st.failedCount)} failed devices go again, in the phase running now.`,
          done: `${fmtNumber(st.failedCount)} failed devices go again`}));
      }
    }
    controls.append(btn('cancel', isRollout(job) ? 'Cancel rollout' : 'Cancel job', {title: `Cancel ${id}?`,
      message: 'Devices not yet started are canceled; calls in flight finish. This cannot be undone.', danger: true,
      done: `${id} cancelled`}, 'danger'));
  }

  // --- Drawing
  function drawHead() {
    const st = job.deviceJobStatistics || {};
    const m = job.cloudToDeviceMethod;
    fill(head,
      h('div', {class: 'panel-head'}, h('h2', {id: 'job-summary-h'}, isRollout(job) ? 'Rollout' : 'Job'),
        h('span', {class: 'status-cell', testid: 'job-status', dataset: {status: job.status}}, jobStatusBadge(job.status),
          job.paused ? h('span', {class: 'badge warn', testid: 'job-paused'}, 'paused') : null,
          job.awaitingApproval ? h('span', {class: 'badge warn', testid: 'job-awaiting'}, `phase ${job.currentPhase + 1} done: awaiting approval`) : null)),
      statsBar(st, 'All devices'),
      h('p', {class: 'counts', testid: 'job-counts'}, ['deviceCount', 'succeededCount', 'failedCount', 'runningCount', 'pendingCount'].map((k) =>
        h('span', {class: `count count-${k}`, dataset: {key: k, value: String(st[k] ?? 0)}},
          h('strong', {}, fmtNumber(st[k] ?? 0)), ' ', {deviceCount: 'devices', succeededCount: 'succeeded', failedCount: 'failed', runningCount: 'running', pendingCount: 'pending'}[k]))),
      controls,
      facts([
        ['Action', jobAction(job)],
        m && m.payload && m.methodName !== 'firmwareUpdate' ? ['Payload', h('code', {}, JSON.stringify(m.payload))] : null,
        job.updateTwin ? ['Patch', h('code', {}, JSON.stringify(job.updateTwin))] : null,
        ['Targets', h('code', {class: 'wrap-anywhere'}, job.queryCondition)],
        ['Created', timeEl(job.createdTime)],
        ['Start', job.startTime ? formatTime(job.startTime) : 'now'],
        ['Ended', job.endTime ? formatTime(job.endTime) : null],
        job.failureReason ? ['Failure', h('span', {class: 'bad'}, job.failureReason)] : null,
        job.statusMessage ? ['Message', job.statusMessage] : null,
      ], 'kv'));
    drawControls();
  }

  function drawPhases() {
    if (!isRollout(job)) {
      phasesBox.hidden = true;
      return;
    }
    phasesBox.hidden = false;
    const p = job.policy || {};
    const bits = [];
    if (p.rate && p.rate.perSecond) bits.push(`${p.rate.perSecond}/s`);
    if (p.rate && p.rate.exponential) bits.push(`from ${p.rate.exponential.basePerSecond}/s ×${p.rate.exponential.factor}`);
    if (p.maxConcurrency) bits.push(`at most ${p.maxConcurrency} at once`);
    if (p.successGate && p.successGate.minSuccessPercent) bits.push(`gate ${p.successGate.minSuccessPercent}% succeeded`);
    if (p.abort) bits.push(`abort at ${[p.abort.failurePercent ? `${p.abort.failurePercent}%` : null, p.abort.failureCount ? `${p.abort.failureCount} failures` : null].filter(Boolean).join(' or ')}`);
    if (p.health) bits.push(`health: ${p.health.condition}`);
    if (p.maintenanceWindows && p.maintenanceWindows.length) bits.push(`${p.maintenanceWindows.length} maintenance window(s)`);
    fill(phasesBox, h('div', {class: 'panel-head'}, h('h2', {id: 'phases-h'}, 'Phases')),
      bits.length ? h('p', {class: 'muted'}, bits.join(' · ')) : null,
      (job.phases || []).length ? h('ol', {class: 'phases'}, job.phases.map((ph, i) => funnel(ph, i, job)))
        : h('p', {class: 'state state-empty'}, 'The phases fill when the rollout starts.'));
  }

  function drawFailures() {
    const f = job.failures || {};
    const codes = Object.keys(f);
    const prev = codeFilter.value;
    fill(codeFilter, h('option', {value: ''}, 'Any error'), codes.map((c) => h('option', {value: c}, c)));
    codeFilter.value = codes.includes(prev) ? prev : '';
    if (!isRollout(job) && !(job.deviceJobStatistics || {}).failedCount) {
      failuresBox.hidden = true;
      return;
    }
    failuresBox.hidden = false;
    const total = codes.reduce((a, c) => a + f[c], 0);
    fill(failuresBox, h('div', {class: 'panel-head'}, h('h2', {id: 'failures-h'}, 'Failures by error code')),
      codes.length ? h('div', {class: 'table-wrap'}, h('table', {class: 'data', testid: 'failures'},
        h('caption', {class: 'sr-only'}, 'Failed devices grouped by error code'),
        h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Error code'), h('th', {scope: 'col', class: 'num'}, 'Devices'), h('th', {scope: 'col'}, 'Share'), h('th', {scope: 'col'}, h('span', {class: 'sr-only'}, 'Actions')))),
        h('tbody', {}, codes.map((c) => h('tr', {dataset: {testid: 'failure-row', code: c, count: String(f[c])}},
          h('td', {}, h('code', {}, c)), h('td', {class: 'num'}, fmtNumber(f[c])),
          h('td', {}, h('span', {class: 'share'}, `${Math.round((100 * f[c]) / total)}%`)),
          h('td', {}, h('button', {type: 'button', class: 'small link', 'aria-label': `Show devices failed with ${c}`, onclick: () => {
            statusFilter.value = 'failed';
            codeFilter.value = c;
            loadDevices(0);
            devicesBox.scrollIntoView({block: 'start'});
          }}, 'Show devices'))))))) : h('p', {class: 'state state-empty', testid: 'no-failures'}, 'No device has failed.'));
  }

  async function drawCompliance() {
    const m = job.cloudToDeviceMethod;
    if (!m || m.methodName !== 'firmwareUpdate' || !m.payload || !m.payload.version) return;
    complianceBox.hidden = false;
    try {
      const c = await api.get(`/devicehub/rollouts/${enc(id)}/compliance`);
      const all = c.onTarget + c.inProgress + c.failed + c.notYet;
      fill(complianceBox, h('div', {class: 'panel-head'}, h('h2', {id: 'compliance-h'}, `Firmware compliance: ${c.targetVersion}`)),
        h('div', {class: 'tiles small'}, [['onTarget', 'On target', 'ok'], ['inProgress', 'Updating', ''], ['failed', 'Update error', 'bad'], ['notYet', 'Not yet', '']].map(([k, l]) =>
          h('div', {class: 'tile', dataset: {testid: `compliance-${k}`, value: String(c[k])}}, h('span', {class: 'label'}, l), h('span', {class: 'value'}, fmtNumber(c[k])),
            h('span', {class: 'sub'}, all ? `${Math.round((100 * c[k]) / all)}%` : '')))));
    } catch (e) {
      fill(complianceBox, h('h2', {id: 'compliance-h'}, 'Firmware compliance'), errorBox(e));
    }
  }

  function draw() {
    fill(root.querySelector('.page-head h1'), `${isRollout(job) ? 'Rollout' : 'Job'} ${id}`);
    drawHead();
    drawPhases();
    drawFailures();
  }

  // Requests that answer with the rollout (fetches, and the controls' POSTs): only the latest issued may
  // draw. lastProgress is the newest job.progress of this job and progressSeen counts them: one that
  // arrived while a request was in flight may be newer than the server's snapshot for it, so it is applied
  // again on top (the refetch the event asked for settles which is newer). True when the answer drew.
  let fetchSeq = 0;
  let lastProgress = null;
  let progressSeen = 0;
  let missed = false;
  async function load(send) {
    const mine = ++fetchSeq;
    const seenBefore = progressSeen;
    const r = await send();
    if (gone || mine !== fetchSeq || !r || !r.jobId) return false;
    job = r;
    if (progressSeen !== seenBefore) applyProgress(job, lastProgress);
    draw();
    return true;
  }
  async function refresh() {
    const mine = fetchSeq + 1; // the number load gives this fetch
    try {
      if (!(await load(() => api.get(`/devicehub/rollouts/${enc(id)}`)))) return;
      if (!head.isConnected) { // the first answer (or the retry after a failed first load)
        fill(body, head, phasesBox, failuresBox, complianceBox, devicesBox);
        loadDevices(0);
        if (missed) refetch(); // something changed during the first load that its events alone do not carry
      }
      drawCompliance();
    } catch (e) {
      if (gone || mine !== fetchSeq) return;
      if (!job) fill(body, e.status === 404 ? h('p', {class: 'state state-empty', testid: 'job-not-found'}, `There is no job named ${id}.`) : errorBox(e, refresh));
      else ctx.toast(`Could not refresh: ${errorText(e)}`, 'error');
    }
  }

  // --- Live (subscribed before the first load: events during it are kept, see refresh)
  const refetch = throttle(refresh, 1000);
  const refetchDevices = throttle(() => { if (pageIndex === 0) loadDevices(0); }, 2000);
  // Until the first load has answered, events only leave word for it (a refetch then would overtake it).
  const kick = () => { if (job) refetch(); else missed = true; };
  const off = [
    events.on('job.progress', (ev) => {
      if (ev.jobId !== id) return;
      lastProgress = ev;
      progressSeen++;
      kick();
      if (!job) return;
      const statusChanged = applyProgress(job, ev);
      drawHead();
      // A new status (completed, failed, cancelled) shows at once in the rows too, not a throttle later.
      if (statusChanged) loadDevices(pageIndex);
      else refetchDevices();
      if (statusChanged) drawCompliance();
    }),
    events.on('rollout.phase', (ev) => { if (ev.jobId === id) kick(); }),
    events.on('device.failed', (ev) => { if (ev.jobId === id) { kick(); refetchDevices(); } }),
    events.onResync(() => { kick(); loadDevices(pageIndex); }),
  ];
  await refresh();
  return () => {
    gone = true;
    refetch.cancel();
    refetchDevices.cancel();
    off.forEach((f) => f());
  };
}
