// page-job-new.js (#/jobs/new?query=...): create a job or a rollout. The target condition counts its
// devices as one types (and shows the parser's error); the action is a direct method, a twin patch or
// (rollouts) a firmware artifact; a schedule; for rollouts the policy (docs/rollouts.md): phases, rate,
// concurrency, retries, success gate, abort thresholds, health and context conditions, maintenance
// windows. "Preview" asks POST /devicehub/rollouts/dryrun for the plan; the create button is in the
// preview, so nothing starts unseen. The server's validation errors appear next to the field they name.

import {h, fill, pageRoot, field, fmtNumber} from './ui.js';
import {enc} from './api.js';
import {allowed, conditionField, jsonField, showFormError, clearFormError, errorText} from './ops.js';

const DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

function num(form, name) {
  const el = form.elements.namedItem(name);
  const v = el && el.value.trim();
  return v === '' || v === undefined ? undefined : Number(v);
}

function str(form, name) {
  const el = form.elements.namedItem(name);
  const v = el && el.value.trim();
  return v ? v : undefined;
}

function prune(o) {
  for (const k of Object.keys(o)) if (o[k] === undefined) delete o[k];
  return Object.keys(o).length ? o : undefined;
}

function defaultId() {
  const d = new Date();
  const p = (n) => String(n).padStart(2, '0');
  return `job-${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

export async function render(root, ctx) {
  const {api} = ctx;
  pageRoot(root, 'job-new', 'New job or rollout', h('a', {href: '#/jobs', class: 'button'}, 'Back to jobs'));
  if (!allowed(ctx, 'operator')) {
    root.append(h('p', {class: 'notice', testid: 'job-new-refused'},
      `Creating jobs needs the operator or admin role; you are signed in as ${ctx.session.role}.`));
    return;
  }

  const form = h('form', {class: 'job-form stack', novalidate: true, testid: 'job-form', 'aria-describedby': 'job-form-error'});
  const errBox = h('div', {id: 'job-form-error', class: 'notice bad', role: 'alert', hidden: true, testid: 'job-form-error'});

  // --- What and where
  const idField = field('Job id', 'jobId', {value: defaultId(), attrs: {required: true, maxlength: 128, testid: 'job-id', autocomplete: 'off'},
    hint: 'Letters, digits and - . _ : @ ( ) and a few more; 128 at most.'});
  const kindRollout = h('input', {type: 'radio', name: 'kind', value: 'rollout', id: 'kind-rollout', checked: true, testid: 'kind-rollout'});
  const kindJob = h('input', {type: 'radio', name: 'kind', value: 'job', id: 'kind-job', testid: 'kind-job'});
  const kindSet = h('fieldset', {class: 'choice'}, h('legend', {}, 'Kind'),
    h('label', {class: 'inline-check', for: 'kind-rollout'}, kindRollout, ' Rollout: phases, pacing and gates'),
    h('label', {class: 'inline-check', for: 'kind-job'}, kindJob, ' Plain job (IoT Hub jobs v2): every device at once'));
  const target = conditionField(ctx, {value: ctx.params.query || ctx.params.q || '', testid: 'job-condition',
    hint: 'The part after WHERE in the query language; * is every device.'});

  // --- Action
  const actMethod = h('input', {type: 'radio', name: 'action', value: 'method', id: 'act-method', checked: true, testid: 'action-method'});
  const actTwin = h('input', {type: 'radio', name: 'action', value: 'twin', id: 'act-twin', testid: 'action-twin'});
  const actFw = h('input', {type: 'radio', name: 'action', value: 'firmware', id: 'act-fw', testid: 'action-firmware'});
  const fwLabel = h('label', {class: 'inline-check', for: 'act-fw'}, actFw, ' Firmware artifact');
  const methodName = field('Method name', 'methodName', {value: 'reboot', attrs: {testid: 'method-name', maxlength: 128}});
  const payload = jsonField('Payload (JSON)', 'payload', {value: '{}', rows: 3, testid: 'method-payload'});
  const timeout = field('Response timeout (seconds, 5–300)', 'responseTimeoutInSeconds', {type: 'number', value: '30', attrs: {min: 5, max: 300, testid: 'method-timeout'}});
  const methodBox = h('div', {class: 'form-row'}, methodName, timeout);
  const methodPart = h('div', {class: 'action-part', dataset: {action: 'method'}}, methodBox, payload.el);
  const tags = jsonField('Tags to merge (JSON object)', 'tags', {rows: 3, testid: 'twin-tags', placeholder: '{"wave": 1}'});
  const desired = jsonField('Desired properties to merge (JSON object)', 'desired', {rows: 3, testid: 'twin-desired', placeholder: '{"telemetryInterval": 30}'});
  const twinPart = h('div', {class: 'action-part', dataset: {action: 'twin'}, hidden: true}, tags.el, desired.el);
  const artifactSelect = h('select', {id: 'fw-artifact', name: 'artifactId', testid: 'firmware-artifact'}, h('option', {value: ''}, 'Loading artifacts…'));
  const artifactNote = h('small', {class: 'hint', id: 'fw-artifact-hint'}, 'Each device gets firmwareUpdate with the package URL and SHA-256, and counts as done when it reports the version as current.');
  artifactSelect.setAttribute('aria-describedby', 'fw-artifact-hint');
  const fwTimeout = field('Response timeout (seconds)', 'fwTimeout', {type: 'number', value: '60', attrs: {min: 5, max: 300}});
  const fwPart = h('div', {class: 'action-part', dataset: {action: 'firmware'}, hidden: true},
    h('div', {class: 'form-row'}, h('div', {class: 'field'}, h('label', {for: 'fw-artifact'}, 'Artifact'), artifactSelect, artifactNote), fwTimeout));
  const actionSet = h('fieldset', {class: 'choice bare', testid: 'action'}, h('legend', {class: 'sr-only'}, 'Action'),
    h('label', {class: 'inline-check', for: 'act-method'}, actMethod, ' Direct method'),
    h('label', {class: 'inline-check', for: 'act-twin'}, actTwin, ' Twin patch'), fwLabel,
    methodPart, twinPart, fwPart);

  // --- Schedule
  const startNow = h('input', {type: 'radio', name: 'start', value: 'now', id: 'start-now', checked: true, testid: 'start-now'});
  const startAt = h('input', {type: 'radio', name: 'start', value: 'at', id: 'start-at', testid: 'start-at'});
  const startTime = h('input', {type: 'datetime-local', id: 'start-time', name: 'startTime', disabled: true, testid: 'start-time', 'aria-label': 'Start time (your local time)'});
  const maxExec = field('Give up after (seconds)', 'maxExecutionTimeInSeconds', {type: 'number', value: '3600', attrs: {min: 1, max: 604800},
    hint: 'Devices still offline then fail with DeviceNotOnline.'});
  const schedSet = h('fieldset', {class: 'choice bare'}, h('legend', {class: 'sr-only'}, 'Schedule'),
    h('label', {class: 'inline-check', for: 'start-now'}, startNow, ' Start now'),
    h('span', {class: 'inline-check'}, h('label', {for: 'start-at'}, startAt, ' Start at'), ' ', startTime),
    maxExec);

  // --- Policy
  const phaseMode = h('select', {id: 'phase-mode', name: 'phaseMode', testid: 'phase-mode'},
    h('option', {value: 'percent'}, 'Cumulative percentages'), h('option', {value: 'condition'}, 'Conditions (rings)'));
  const phaseList = h('ol', {class: 'phase-list', testid: 'phases'});
  const phases = [];
  function addPhase(p = {}) {
    const i = phases.length;
    const row = {};
    row.name = h('input', {type: 'text', value: p.name || '', 'aria-label': `Phase ${i + 1} name`, placeholder: 'name (optional)', testid: `phase-name-${i}`});
    row.percent = h('input', {type: 'number', min: 0.01, max: 100, step: 0.01, value: p.percent ?? '', 'aria-label': `Phase ${i + 1} cumulative percent`, testid: `phase-percent-${i}`});
    row.condition = h('input', {type: 'text', class: 'phase-condition', value: p.condition || '', 'aria-label': `Phase ${i + 1} condition`, placeholder: "tags.ring = 'canary'", testid: `phase-condition-${i}`});
    row.manual = h('input', {type: 'checkbox', checked: !!p.manual, id: `phase-manual-${i}-${Math.random().toString(36).slice(2, 6)}`, testid: `phase-manual-${i}`});
    row.remove = h('button', {type: 'button', class: 'small', 'aria-label': `Remove phase ${i + 1}`, onclick: () => {
      phases.splice(phases.indexOf(row), 1);
      row.li.remove();
      renumber();
    }}, 'Remove');
    row.li = h('li', {class: 'phase-row'}, row.name, h('span', {class: 'pct'}, row.percent, '%'), row.condition,
      h('label', {class: 'inline-check', for: row.manual.id}, row.manual, ' approve before the next phase'), row.remove);
    phases.push(row);
    phaseList.append(row.li);
    syncMode();
  }
  function renumber() {
    phases.forEach((r, i) => {
      r.name.setAttribute('aria-label', `Phase ${i + 1} name`);
      r.percent.setAttribute('aria-label', `Phase ${i + 1} cumulative percent`);
      r.condition.setAttribute('aria-label', `Phase ${i + 1} condition`);
      r.remove.setAttribute('aria-label', `Remove phase ${i + 1}`);
    });
  }
  function syncMode() {
    const pct = phaseMode.value === 'percent';
    for (const r of phases) {
      r.percent.parentElement.hidden = !pct;
      r.condition.hidden = pct;
    }
  }
  phaseMode.addEventListener('change', syncMode);
  addPhase({name: 'canary', percent: 10, manual: true});
  addPhase({percent: 100});

  const winList = h('ul', {class: 'window-list', testid: 'windows'});
  const windows = [];
  function addWindow() {
    const i = windows.length;
    const w = {days: DAYS.map((d) => h('input', {type: 'checkbox', value: d, checked: true, 'aria-label': `${d} (window ${i + 1})`}))};
    w.start = h('input', {type: 'time', value: '01:00', 'aria-label': `Window ${i + 1} opens`});
    w.end = h('input', {type: 'time', value: '05:00', 'aria-label': `Window ${i + 1} closes`});
    w.li = h('li', {class: 'window-row'},
      h('span', {class: 'days'}, w.days.map((c) => h('label', {class: 'day'}, c, c.value))),
      h('span', {}, 'from ', w.start, ' to ', w.end),
      h('button', {type: 'button', class: 'small', onclick: () => { windows.splice(windows.indexOf(w), 1); w.li.remove(); }}, 'Remove window'));
    windows.push(w);
    winList.append(w.li);
  }

  const ratePer = field('Start at most (devices per second)', 'ratePerSecond', {type: 'number', attrs: {min: 0.001, step: 'any', testid: 'rate'}});
  const conc = field('Max concurrency (devices at once)', 'maxConcurrency', {type: 'number', attrs: {min: 1, testid: 'max-concurrency'}});
  const retries = field('Retries per failed device', 'retries', {type: 'number', attrs: {min: 0, max: 10, testid: 'retries'}});
  const retryDelay = field('Retry delay (seconds)', 'retryDelay', {type: 'number', attrs: {min: 0}});
  const gateMin = field('Success gate: min. % succeeded per phase', 'minSuccessPercent', {type: 'number', attrs: {min: 0, max: 100, step: 0.01, testid: 'gate-min'}});
  const gateApproval = field('Between phases', 'approval', {type: 'select', options: [['auto', 'Continue automatically'], ['manual', 'Wait for approval (every phase)']], attrs: {testid: 'gate-approval'}});
  const abortPct = field('Abort at failure %', 'abortPercent', {type: 'number', attrs: {min: 0.01, max: 100, step: 0.01, testid: 'abort-percent'}});
  const abortCount = field('Abort at failures (count)', 'abortCount', {type: 'number', attrs: {min: 1, testid: 'abort-count'}});
  const abortMin = field('…once this many devices finished', 'abortMinDevices', {type: 'number', attrs: {min: 1}});
  const healthCond = field('Health condition (must hold on the twin to count as succeeded)', 'healthCondition', {attrs: {testid: 'health-condition', placeholder: "properties.reported.firmware.version = '2.0.0'"}});
  const healthTimeout = field('Health timeout (seconds)', 'healthTimeout', {type: 'number', attrs: {min: 1, max: 86400}});
  const contextCond = field('Context condition (checked right before each device; else deferred)', 'contextCondition', {attrs: {testid: 'context-condition', placeholder: "properties.reported.powerSource = 'mains'"}});
  const tzPath = field('Time zone path (IANA zone in the twin)', 'timezonePath', {attrs: {placeholder: 'tags.timezone'}});
  const dynamic = h('input', {type: 'checkbox', id: 'dyn-targets', name: 'dynamicTargets'});

  const policySet = h('fieldset', {class: 'policy bare', testid: 'policy'}, h('legend', {class: 'sr-only'}, 'Rollout policy'),
    h('div', {class: 'field inline'}, h('label', {for: 'phase-mode'}, 'Phases'), phaseMode),
    phaseList,
    h('button', {type: 'button', class: 'small', testid: 'phase-add', onclick: () => addPhase({})}, 'Add phase'),
    h('div', {class: 'form-row'}, ratePer, conc),
    h('div', {class: 'form-row'}, retries, retryDelay),
    h('div', {class: 'form-row'}, gateMin, gateApproval),
    h('div', {class: 'form-row'}, abortPct, abortCount, abortMin),
    h('div', {class: 'form-row'}, healthCond, healthTimeout),
    contextCond,
    h('fieldset', {class: 'windows'}, h('legend', {}, 'Maintenance windows (none: always open)'), winList,
      h('button', {type: 'button', class: 'small', testid: 'window-add', onclick: addWindow}, 'Add window'), tzPath),
    h('label', {class: 'inline-check', for: 'dyn-targets'}, dynamic, ' Devices that match later join the rollout'));

  const previewBtn = h('button', {type: 'submit', class: 'primary', testid: 'job-preview'}, 'Preview');
  const previewBox = h('section', {class: 'panel preview', hidden: true, 'aria-labelledby': 'preview-title', testid: 'dryrun', tabindex: '-1'});
  form.append(
    h('section', {class: 'panel'}, h('h2', {}, 'What and where'), h('div', {class: 'form-row'}, idField), kindSet, target.el),
    h('section', {class: 'panel'}, h('h2', {}, 'Action'), actionSet),
    h('section', {class: 'panel'}, h('h2', {}, 'Schedule'), schedSet),
    h('section', {class: 'panel', dataset: {part: 'policy'}}, h('h2', {}, 'Rollout policy'), policySet),
    errBox,
    h('div', {class: 'form-actions'}, previewBtn));
  root.append(form, previewBox);

  // --- Behaviour
  function kind() { return kindRollout.checked ? 'rollout' : 'job'; }
  function action() { return actTwin.checked ? 'twin' : actFw.checked ? 'firmware' : 'method'; }
  function sync() {
    const r = kind() === 'rollout';
    policySet.closest('section').hidden = !r;
    fwLabel.hidden = !r;
    if (!r && actFw.checked) actMethod.checked = true;
    for (const part of actionSet.querySelectorAll('.action-part')) part.hidden = part.dataset.action !== action();
    startTime.disabled = !startAt.checked;
  }
  for (const el of [kindRollout, kindJob, actMethod, actTwin, actFw, startNow, startAt]) el.addEventListener('change', sync);
  sync();
  form.addEventListener('input', () => { previewBox.hidden = true; });
  form.addEventListener('change', () => { previewBox.hidden = true; });

  api.get('/devicehub/artifacts').then((list) => {
    const items = Array.isArray(list) ? list.slice().reverse() : [];
    fill(artifactSelect, items.length ? items.map((a) => h('option', {value: a.id},
      `${a.id} — version ${a.version}${a.compatibleModel ? ` for ${[].concat(a.compatibleModel).join(', ')}` : ''}`))
      : h('option', {value: ''}, 'No artifacts uploaded (PUT /devicehub/artifacts/{id})'));
  }, (e) => fill(artifactSelect, h('option', {value: ''}, `Could not list artifacts: ${errorText(e)}`)));

  function policy() {
    const p = {};
    const pct = phaseMode.value === 'percent';
    p.phases = phases.map((r) => prune({
      name: r.name.value.trim() || undefined,
      percent: pct ? (r.percent.value === '' ? undefined : Number(r.percent.value)) : undefined,
      condition: pct ? undefined : r.condition.value.trim() || undefined,
      successGate: r.manual.checked ? {approval: 'manual'} : undefined,
    }) || {});
    const rate = num(form, 'ratePerSecond');
    if (rate !== undefined) p.rate = {perSecond: rate};
    p.maxConcurrency = num(form, 'maxConcurrency');
    const rc = num(form, 'retries');
    if (rc !== undefined) p.retries = prune({count: rc, delaySeconds: num(form, 'retryDelay')});
    const approval = form.elements.namedItem('approval').value;
    p.successGate = prune({minSuccessPercent: num(form, 'minSuccessPercent'), approval: approval === 'manual' ? 'manual' : undefined});
    const ap = num(form, 'abortPercent');
    const ac = num(form, 'abortCount');
    if (ap !== undefined || ac !== undefined) p.abort = prune({failurePercent: ap, failureCount: ac, minDevices: num(form, 'abortMinDevices')});
    const hc = str(form, 'healthCondition');
    if (hc) p.health = prune({condition: hc, timeoutSeconds: num(form, 'healthTimeout')});
    const cc = str(form, 'contextCondition');
    if (cc) p.context = {condition: cc};
    if (windows.length) {
      p.maintenanceWindows = windows.map((w) => {
        const days = w.days.filter((c) => c.checked).map((c) => c.value);
        return prune({days: days.length === 7 ? undefined : days, start: w.start.value, end: w.end.value === '00:00' ? '24:00' : w.end.value});
      });
    }
    p.timezonePath = str(form, 'timezonePath');
    if (dynamic.checked) p.dynamicTargets = true;
    return prune(p) || {};
  }

  function body() {
    const b = {queryCondition: target.value()};
    if (b.queryCondition === '*') b.queryCondition = 'IS_DEFINED(deviceId)';
    const act = action();
    if (act === 'method') {
      b.type = 'scheduleDeviceMethod';
      b.cloudToDeviceMethod = {methodName: str(form, 'methodName') || '', payload: payload.value() ?? {},
        responseTimeoutInSeconds: num(form, 'responseTimeoutInSeconds')};
    } else if (act === 'twin') {
      b.type = 'scheduleUpdateTwin';
      const t = tags.value();
      const d = desired.value();
      if (t === undefined && d === undefined) throw new Error('A twin patch needs tags or desired properties.');
      b.updateTwin = prune({etag: '*', tags: t, properties: d === undefined ? undefined : {desired: d}});
    } else {
      const id = artifactSelect.value;
      if (!id) throw new Error('Choose a firmware artifact (upload one with PUT /devicehub/artifacts/{id}).');
      b.firmware = {artifactId: id, responseTimeoutInSeconds: num(form, 'fwTimeout')};
    }
    if (startAt.checked) {
      if (!startTime.value) throw new Error('Choose the start time, or start now.');
      b.startTime = new Date(startTime.value).toISOString();
    } else b.startTime = null;
    b.maxExecutionTimeInSeconds = num(form, 'maxExecutionTimeInSeconds');
    if (kind() === 'rollout') b.policy = policy();
    return prune(b);
  }

  const fieldsForErrors = () => [
    [/job ?id/i, idField],
    [/queryCondition|query error|syntax error/i, target.el],
    [/methodName|cloudToDeviceMethod|responseTimeout/i, methodPart],
    [/updateTwin|tags|desired|twin/i, twinPart],
    [/artifact|firmware/i, fwPart],
    [/startTime|maxExecution/i, schedSet],
    [/rate/i, ratePer], [/maxConcurrency/i, conc], [/retries/i, retries], [/successGate/i, gateMin],
    [/abort/i, abortPct], [/health/i, healthCond], [/context/i, contextCond],
    [/maintenanceWindows|window/i, winList.parentElement], [/timezonePath/i, tzPath],
    [/phase/i, phaseList], [/policy/i, policySet],
  ];

  function showPreview(b, plan) {
    const phasePlan = plan.phases || [];
    const names = (b.policy && b.policy.phases) || [];
    const versions = Array.isArray(plan.versions) ? plan.versions : [];
    const create = h('button', {type: 'button', class: 'primary', testid: 'job-create'}, kind() === 'rollout' ? 'Start rollout' : 'Create job');
    const status = h('p', {role: 'status'});
    create.addEventListener('click', async () => {
      create.disabled = true;
      clearFormError(errBox);
      status.textContent = 'Creating…';
      const id = form.elements.namedItem('jobId').value.trim();
      try {
        const path = kind() === 'rollout' ? `/devicehub/rollouts/${enc(id)}` : `/jobs/v2/${enc(id)}`;
        const send = {...b, jobId: id};
        if (kind() !== 'rollout') delete send.policy;
        await api.put(path, send);
        ctx.toast(`${kind() === 'rollout' ? 'Rollout' : 'Job'} ${id} created`, 'ok');
        ctx.navigate(`#/jobs/${enc(id)}`);
      } catch (e) {
        status.textContent = '';
        create.disabled = false;
        showFormError(errBox, e, fieldsForErrors());
        errBox.scrollIntoView({block: 'center'});
      }
    });
    fill(previewBox,
      h('h2', {id: 'preview-title'}, 'Preview'),
      h('div', {class: 'tiles small'},
        h('div', {class: 'tile', testid: 'dryrun-targets', dataset: {value: String(plan.targets)}}, h('span', {class: 'label'}, 'Target devices'), h('span', {class: 'value'}, fmtNumber(plan.targets))),
        h('div', {class: 'tile', testid: 'dryrun-offline'}, h('span', {class: 'label'}, 'Offline now'), h('span', {class: 'value'}, fmtNumber(plan.offline)),
          h('span', {class: 'sub'}, 'they start when they connect'))),
      phasePlan.length && b.policy ? h('div', {class: 'table-wrap'}, h('table', {class: 'data', testid: 'dryrun-phases'},
        h('caption', {}, 'Phases'),
        h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Phase'), h('th', {scope: 'col', class: 'num'}, 'Devices'), h('th', {scope: 'col'}, 'Then'))),
        h('tbody', {}, phasePlan.map((p) => {
          const def = names[p.phase] || {};
          const gate = (def.successGate && def.successGate.approval) || (b.policy && b.policy.successGate && b.policy.successGate.approval) || 'auto';
          return h('tr', {}, h('td', {}, `${p.phase + 1}${def.name ? ` (${def.name})` : ''}${def.percent !== undefined ? ` — up to ${def.percent}%` : ''}${def.condition ? ` — ${def.condition}` : ''}`),
            h('td', {class: 'num'}, p.devices < 0 ? 'by condition' : fmtNumber(p.devices)),
            h('td', {}, p.phase === phasePlan.length - 1 ? 'done' : gate === 'manual' ? 'wait for approval' : 'continue'));
        })))) : null,
      versions.length ? h('div', {class: 'table-wrap'}, h('table', {class: 'data', testid: 'dryrun-versions'},
        h('caption', {}, 'Reported firmware versions among the targets'),
        h('thead', {}, h('tr', {}, h('th', {scope: 'col'}, 'Version'), h('th', {scope: 'col', class: 'num'}, 'Devices'))),
        h('tbody', {}, versions.map((v) => h('tr', {}, h('td', {}, v.version ?? h('span', {class: 'muted'}, 'none reported')), h('td', {class: 'num'}, fmtNumber(v.devices))))))) : null,
      h('details', {}, h('summary', {}, 'Request body'), h('pre', {class: 'mono'}, JSON.stringify(b, null, 2))),
      plan.targets === 0 ? h('p', {class: 'notice'}, 'No device matches the condition now.') : null,
      h('div', {class: 'form-actions'}, create, status));
    previewBox.hidden = false;
    previewBox.focus();
  }

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(errBox);
    previewBox.hidden = true;
    let b;
    try {
      if (!form.elements.namedItem('jobId').value.trim()) throw new Error('job id: give the job an id.');
      if (!target.value()) throw new Error('queryCondition: say which devices (a condition, or * for all).');
      b = body();
    } catch (err) {
      showFormError(errBox, err, fieldsForErrors());
      return;
    }
    previewBtn.disabled = true;
    try {
      const plan = await api.post('/devicehub/rollouts/dryrun', b);
      showPreview(b, plan);
    } catch (err) {
      showFormError(errBox, err, fieldsForErrors());
    } finally {
      previewBtn.disabled = false;
    }
  });

  return () => target.cancel();
}
