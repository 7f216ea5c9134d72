// page-fleet.js (#/): fleet health, the landing page. Tiles (GET /devicehub/fleet), connected devices over
// time (GET /devicehub/fleet/history, Chart.js), health rules (GET /devicehub/health), the latest events
// (GET /devicehub/events) and jobs / rollouts in progress (GET /jobs/v2/query?jobStatus=running).
// Live from the event socket; nothing polls: device.* events refetch the tiles at most once a second,
// health.changed updates a rule, job.progress moves a bar.
import {h, fill, pageRoot, loading, empty, errorBox, fmtNumber, formatTime, throttle, hashWith, progress, badge, timeEl} from './ui.js';

const RANGES = [['1h', '1 h', 3600], ['24h', '24 h', 86400], ['7d', '7 d', 7 * 86400]];
const DONE = new Set(['completed', 'failed', 'cancelled', 'canceled']);

export async function render(root, ctx) {
  const {api, events} = ctx;
  pageRoot(root, 'fleet', 'Fleet health');
  root.dataset.page = 'fleet';
  const offs = [];
  let disposed = false;

  // Tiles
  const tileEls = {};
  const tileDefs = [
    ['total', 'Devices', '#/devices'],
    ['enabled', 'Enabled', hashWith('/devices', {q: "status = 'enabled'"})],
    ['disabled', 'Disabled', hashWith('/devices', {q: "status = 'disabled'"})],
    ['connected', 'Connected', hashWith('/devices', {q: "connectionState = 'Connected'"})],
  ];
  const tiles = h('div', {class: 'tiles', 'aria-label': 'Fleet counts', role: 'group'},
    tileDefs.map(([key, label, href]) => {
      tileEls[key] = h('span', {class: 'value', dataset: {testid: `tile-${key}`}}, '…');
      return h('a', {class: 'tile', href, dataset: {testid: `tile-link-${key}`}}, h('span', {class: 'label'}, label), tileEls[key]);
    }));
  const tileError = h('div');
  root.append(tileError, tiles);

  // Chart
  let range = sessionStorage.getItem('dh.fleet.range') || '24h';
  const chartState = h('div');
  const canvas = h('canvas', {role: 'img', 'aria-label': 'Connected devices over time'});
  const chartBox = h('div', {class: 'chart-box'}, canvas);
  const rangeButtons = RANGES.map(([key, label]) => h('button', {type: 'button', 'aria-pressed': String(key === range),
    testid: `range-${key}`, onclick: () => setRange(key)}, label));
  const chartPanel = h('section', {class: 'panel', 'aria-labelledby': 'h-chart'},
    h('div', {class: 'panel-head'}, h('h2', {id: 'h-chart'}, 'Connected devices over time'),
      h('div', {class: 'segmented', role: 'group', 'aria-label': 'Time range'}, rangeButtons)),
    chartState, chartBox);

  // Health rules, events, jobs
  const rulesBody = h('div', {}, loading());
  const rulesPanel = h('section', {class: 'panel', 'aria-labelledby': 'h-rules', dataset: {testid: 'health-rules'}},
    h('div', {class: 'panel-head'}, h('h2', {id: 'h-rules'}, 'Health rules'), h('span', {class: 'muted', dataset: {testid: 'health-evaluated'}})), rulesBody);
  const eventsBody = h('div', {}, loading());
  const eventsPanel = h('section', {class: 'panel', 'aria-labelledby': 'h-events', dataset: {testid: 'latest-events'}},
    h('div', {class: 'panel-head'}, h('h2', {id: 'h-events'}, 'Latest events')), eventsBody);
  const jobsBody = h('div', {}, loading());
  const jobsPanel = h('section', {class: 'panel', 'aria-labelledby': 'h-jobs', dataset: {testid: 'jobs-in-progress'}},
    h('div', {class: 'panel-head'}, h('h2', {id: 'h-jobs'}, 'Jobs and rollouts in progress'), h('a', {href: '#/jobs'}, 'All jobs')), jobsBody);
  root.append(chartPanel, h('div', {class: 'grid-2'}, rulesPanel, h('div', {}, jobsPanel, eventsPanel)));

  // ---- tiles
  // Every loader below keeps only its latest call's answer (a throttled refetch can overtake the first load),
  // and what the event socket said during a load is applied on top of its answer, never lost under it.
  let fleet = null;
  let fleetSeq = 0;
  async function loadFleet() {
    const mine = ++fleetSeq;
    try {
      const f = await api.get('/devicehub/fleet');
      if (disposed || mine !== fleetSeq) return;
      fleet = f;
      tileError.replaceChildren();
      for (const k of Object.keys(tileEls)) tileEls[k].textContent = fmtNumber(fleet[k]);
      appendLivePoint();
    } catch (e) {
      if (disposed || mine !== fleetSeq) return;
      fill(tileError, errorBox(e, loadFleet));
    }
  }
  const refetchFleet = throttle(loadFleet, 1000);

  // ---- chart
  let chart = null;
  let points = [];
  let since = 0;
  function rangeSeconds() { return (RANGES.find((r) => r[0] === range) || RANGES[1])[2]; }
  function setRange(key) {
    range = key;
    sessionStorage.setItem('dh.fleet.range', key);
    rangeButtons.forEach((b, i) => b.setAttribute('aria-pressed', String(RANGES[i][0] === key)));
    loadHistory();
  }
  function tickLabel(ms, span) {
    const d = new Date(ms);
    const hm = d.toLocaleTimeString([], {hour: '2-digit', minute: '2-digit', second: span < 600000 ? '2-digit' : undefined});
    if (span <= 86400000) return hm;
    return `${d.toLocaleDateString([], {weekday: 'short', day: 'numeric'})} ${hm}`;
  }
  function drawChart() {
    const Chart = window.Chart;
    if (!Chart) {
      fill(chartState, empty('The chart library did not load.'));
      return;
    }
    const data = points.map((p) => ({x: p.t, y: p.connected}));
    const now = Date.now();
    // A young hub has less history than the range: the axis starts a little before its first sample.
    let min = now - rangeSeconds() * 1000;
    if (points.length && points[0].t > min) min = Math.max(min, points[0].t - Math.max(60000, (now - points[0].t) * 0.05));
    if (!chart) {
      chart = new Chart(canvas.getContext('2d'), {
        type: 'line',
        data: {datasets: [
          {label: 'Connected', data, borderColor: '#0b5cad', backgroundColor: 'rgba(11,92,173,.12)', fill: true, pointRadius: data.length < 30 ? 3 : 0, borderWidth: 2, tension: 0.15},
        ]},
        options: {
          animation: false, responsive: true, maintainAspectRatio: false, parsing: false, normalized: true,
          interaction: {mode: 'index', intersect: false},
          scales: {
            x: {type: 'linear', min, max: now,
              ticks: {callback(v) { return tickLabel(v, this.max - this.min); }, maxTicksLimit: 8, color: '#505c6b'}, grid: {color: '#e3e8ee'}},
            y: {beginAtZero: true, ticks: {precision: 0, color: '#505c6b'}, grid: {color: '#e3e8ee'}},
          },
          plugins: {
            legend: {display: false},
            tooltip: {callbacks: {title: (items) => items.length ? formatTime(items[0].parsed.x) : ''}},
            decimation: {enabled: true, algorithm: 'lttb', samples: 500},
          },
        },
      });
    } else {
      chart.data.datasets[0].data = data;
      chart.data.datasets[0].pointRadius = data.length < 30 ? 3 : 0;
      chart.options.scales.x.min = min;
      chart.options.scales.x.max = now;
      chart.update('none');
    }
    canvas.setAttribute('aria-label', points.length
      ? `Connected devices over the last ${RANGES.find((r) => r[0] === range)[1]}: now ${points[points.length - 1].connected}, peak ${Math.max(...points.map((p) => p.connected))}`
      : 'Connected devices over time: no data yet');
  }
  async function loadHistory() {
    const span = rangeSeconds();
    since = Date.now() - span * 1000;
    fill(chartState, loading('Loading history…'));
    try {
      // Query arguments reach the server undecoded: an ISO time needs no escaping.
      const r = await api.get(`/devicehub/fleet/history?since=${new Date(since).toISOString().replace(/\.\d+Z$/, 'Z')}`);
      if (disposed) return;
      points = (r.points || []).map((p) => ({t: Date.parse(p.time), connected: p.connected, total: p.total}));
      chartState.replaceChildren();
      if (!points.length) fill(chartState, empty('No history yet: the hub samples the fleet every minute.'));
      drawChart();
    } catch (e) {
      if (disposed) return;
      fill(chartState, errorBox(e, loadHistory));
    }
  }
  // Live: the newest point follows the tiles (at most one point per second).
  let lastAppend = 0;
  function appendLivePoint() {
    if (!fleet || !chart) return;
    const now = Date.now();
    if (now - lastAppend < 1000) return;
    lastAppend = now;
    points.push({t: now, connected: fleet.connected, total: fleet.total});
    const cutoff = now - rangeSeconds() * 1000;
    while (points.length && points[0].t < cutoff) points.shift();
    if (chartState.querySelector('.state-empty')) chartState.replaceChildren();
    drawChart();
  }

  // ---- health rules
  let health = null;
  function renderRules() {
    if (!health) return;
    const rules = health.rules || [];
    root.querySelector('[data-testid="health-evaluated"]').textContent = health.evaluatedTime ? `evaluated ${formatTime(health.evaluatedTime)}` : '';
    if (!rules.length) {
      fill(rulesBody, empty('No health rules. Operators add them with PUT /devicehub/health-rules/{name}.'));
      return;
    }
    const sorted = [...rules].sort((a, b) => (b.breaking - a.breaking) || (b.count - a.count));
    fill(rulesBody, h('ul', {class: 'rules'}, sorted.map((r) => {
      const link = hashWith('/devices', {q: r.condition});
      return h('li', {class: `rule ${r.breaking ? 'breaking' : 'ok'}`, dataset: {rule: r.name, testid: `rule-${r.name}`, breaking: String(!!r.breaking)}},
        h('div', {class: 'rule-head'},
          h('a', {href: link}, h('strong', {}, r.name)),
          r.breaking ? badge(r.severity || 'warning', r.severity === 'critical' ? 'bad' : 'warn') : badge('ok', 'ok'),
          h('span', {class: 'count', title: `threshold ${r.threshold}`}, `${fmtNumber(r.count)} device${r.count === 1 ? '' : 's'}`)),
        h('div', {class: 'muted'}, r.description || '', ' ', h('code', {}, r.condition)),
        r.devices && r.devices.length ? h('div', {class: 'rule-devices'},
          r.devices.map((d) => h('a', {href: `#/devices/${encodeURIComponent(d)}`}, d)),
          r.count > r.devices.length ? h('a', {href: link}, `and ${fmtNumber(r.count - r.devices.length)} more…`) : null) : null);
    })));
  }
  let healthSeq = 0;
  async function loadHealth() {
    const mine = ++healthSeq;
    try {
      const r = await api.get('/devicehub/health');
      if (disposed || mine !== healthSeq) return;
      health = r;
      renderRules();
    } catch (e) {
      if (disposed || mine !== healthSeq) return;
      fill(rulesBody, errorBox(e, loadHealth));
    }
  }
  const refetchHealth = throttle(loadHealth, 2000);

  // ---- events
  let eventItems = [];
  function describe(ev) {
    const dev = (id, mod) => id ? h('a', {href: `#/devices/${encodeURIComponent(id)}`}, mod ? `${id}/${mod}` : id) : '?';
    const job = (id) => h('a', {href: `#/jobs/${encodeURIComponent(id)}`}, id);
    switch (ev.type) {
      case 'device.connected': return [dev(ev.deviceId, ev.moduleId), ' connected'];
      case 'device.disconnected': return [dev(ev.deviceId, ev.moduleId), ' disconnected'];
      case 'device.created':
        if (ev.source === 'enrollment') return [dev(ev.deviceId), ' registered itself', ev.enrollmentGroup ? ` (group ${ev.enrollmentGroup})` : ''];
        if (ev.replaces) return [dev(ev.deviceId), ` created to replace ${ev.replaces}`];
        return [dev(ev.deviceId), ' created'];
      case 'device.updated': return [dev(ev.deviceId), ev.status ? ` updated (${ev.status})` : ' updated'];
      case 'device.deleted':
        if (ev.retired) return [ev.deviceId, ` retired (${ev.reason})`, ev.replacedBy ? [', replaced by ', dev(ev.replacedBy)] : ''];
        return [ev.deviceId, ' deleted'];
      case 'twin.updated': return [dev(ev.deviceId, ev.moduleId), ` twin ${ev.section || ''} changed`];
      case 'job.progress': {
        const s = ev.deviceJobStatistics || {};
        return [ev.rollout ? 'Rollout ' : 'Job ', job(ev.jobId), ` ${ev.status}: ${s.succeededCount || 0}/${s.deviceCount || 0} done, ${s.failedCount || 0} failed`];
      }
      case 'rollout.phase': return ['Rollout ', job(ev.jobId), ` phase ${ev.phase + 1} ${ev.event}`];
      case 'device.failed': return [dev(ev.deviceId), ' failed in ', job(ev.jobId), ev.errorCode ? ` (${ev.errorCode})` : ''];
      case 'health.changed': return ['Health rule ', h('strong', {}, ev.name), ev.breaking ? ` breaking (${fmtNumber(ev.count)})` : ` ok (${fmtNumber(ev.count)})`];
      default: return [ev.type];
    }
  }
  function renderEvents() {
    if (!eventItems.length) {
      fill(eventsBody, empty('No events yet. Connections, twin changes and job progress appear here as they happen.'));
      return;
    }
    fill(eventsBody, h('ul', {class: 'event-list', dataset: {testid: 'event-list'}}, eventItems.map((ev) =>
      h('li', {dataset: {type: ev.type}}, h('time', {datetime: ev.time, title: ev.time ? new Date(ev.time).toLocaleString() : ''}, ev.time ? formatTime(ev.time) : ''), h('span', {}, describe(ev))))));
  }
  const renderEventsSoon = throttle(renderEvents, 500);
  async function loadEvents() {
    try {
      const r = await api.get('/devicehub/events?top=50');
      if (disposed) return;
      // Events the socket delivered during the load and the answer did not hold yet stay on top.
      const newest = (r.items || []).reduce((m, ev) => Math.max(m, ev.seq || 0), 0);
      eventItems = eventItems.filter((ev) => (ev.seq || 0) > newest).concat(r.items || []).slice(0, 50);
      renderEvents();
    } catch (e) {
      if (disposed) return;
      fill(eventsBody, errorBox(e, loadEvents));
    }
  }

  // ---- jobs in progress
  const jobs = new Map();
  function renderJobs() {
    const list = [...jobs.values()];
    if (!list.length) {
      fill(jobsBody, empty('Nothing running.'));
      return;
    }
    fill(jobsBody, h('ul', {class: 'rules'}, list.map((j) => {
      const s = j.deviceJobStatistics || {};
      const done = (s.succeededCount || 0) + (s.failedCount || 0);
      const isRollout = !!(j.rollout || j.policy);
      let phase = '';
      if (isRollout && typeof j.currentPhase === 'number') phase = `phase ${j.currentPhase + 1}`;
      const flags = [j.paused ? badge('paused', 'warn') : null, j.awaitingApproval ? badge('awaiting approval', 'warn') : null,
        DONE.has(j.status) ? badge(j.status, j.status === 'completed' ? 'ok' : 'bad') : null];
      return h('li', {dataset: {job: j.jobId, testid: `job-${j.jobId}`}},
        h('div', {class: 'rule-head'}, h('a', {href: `#/jobs/${encodeURIComponent(j.jobId)}`}, h('strong', {}, j.jobId)),
          h('span', {class: 'muted'}, [isRollout ? 'rollout' : (j.type || 'job'), phase].filter(Boolean).join(' · ')), flags,
          h('span', {class: 'count'}, `${fmtNumber(done)} / ${fmtNumber(s.deviceCount || 0)}`)),
        progress(done, s.deviceCount || 0, `${j.jobId} progress`),
        s.failedCount ? h('div', {class: 'muted'}, `${fmtNumber(s.failedCount)} failed`) : null);
    })));
  }
  const renderJobsSoon = throttle(renderJobs, 300);
  let jobsSeq = 0;
  let progressSinceLoad = new Map(); // job.progress during the load, newest per job
  async function loadJobs() {
    const mine = ++jobsSeq;
    progressSinceLoad = new Map();
    try {
      const r = await api.request('GET', '/jobs/v2/query?jobStatus=running', {headers: {'x-ms-max-item-count': '20'}});
      if (disposed || mine !== jobsSeq) return;
      jobs.clear();
      for (const j of Array.isArray(r.data) ? r.data : []) jobs.set(j.jobId, j);
      for (const [jobId, ev] of progressSinceLoad) jobs.set(jobId, Object.assign(jobs.get(jobId) || {jobId}, ev));
      renderJobs();
    } catch (e) {
      if (disposed || mine !== jobsSeq) return;
      fill(jobsBody, errorBox(e, loadJobs));
    }
  }

  // ---- live
  offs.push(events.on('*', (ev) => {
    if (ev.type === 'twin.updated' && ev.section === 'reported') return; // too chatty for a feed
    eventItems.unshift(ev);
    if (eventItems.length > 50) eventItems.length = 50;
    renderEventsSoon();
  }));
  for (const t of ['device.connected', 'device.disconnected', 'device.created', 'device.updated', 'device.deleted', 'registry.bulk'])
    offs.push(events.on(t, refetchFleet));
  offs.push(events.on('health.changed', (ev) => {
    const rule = health?.rules?.find((r) => r.name === ev.name);
    if (rule) {
      rule.breaking = ev.breaking;
      rule.count = ev.count;
      renderRules();
    }
    refetchHealth();
  }));
  offs.push(events.on('job.progress', (ev) => {
    progressSinceLoad.set(ev.jobId, ev);
    const j = jobs.get(ev.jobId) || {jobId: ev.jobId};
    Object.assign(j, ev);
    jobs.set(ev.jobId, j);
    renderJobsSoon();
    if (DONE.has(ev.status)) setTimeout(() => { if (jobs.get(ev.jobId)?.status === ev.status) { jobs.delete(ev.jobId); renderJobs(); } }, 15000);
  }));
  offs.push(events.onResync(() => { loadFleet(); loadHealth(); loadEvents(); loadJobs(); loadHistory(); }));

  await Promise.all([loadFleet(), loadHistory(), loadHealth(), loadEvents(), loadJobs()]);

  return () => {
    disposed = true;
    offs.forEach((off) => off());
    refetchFleet.cancel();
    refetchHealth.cancel();
    if (chart) chart.destroy();
  };
}
