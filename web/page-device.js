// page-device.js (#/devices/<id>): one device. Identity (GET/PUT/DELETE /devices/{id} with If-Match):
// status, keys hidden until asked (admins), connection string, enable / disable / regenerate keys / delete,
// retire (its twin archived, POST /devicehub/devices/{id}/retire) or replace by a new identity (.../replace).
// Twin (GET /twins/{id}): tags and desired edited as JSON and sent as a minimal PATCH with If-Match; on
// 412 the current twin is fetched and shown beside the user's edit, which is never lost and can be
// re-applied on top. Reported properties with their $metadata times. Direct methods. Recent messages.
// Live: connection state and twin changes of this device (an edit in progress is never replaced: a notice
// says the twin changed elsewhere).
import {h, fill, pageRoot, loading, empty, errorBox, table, timeEl, formatTime, parseTime, connectionBadge, statusBadge,
  confirmDialog, formDialog, field, copyButton, throttle} from './ui.js';

const enc = encodeURIComponent;

// Members of a twin section without the $-members ($metadata, $version).
function plain(section) {
  const out = {};
  for (const [k, v] of Object.entries(section || {})) if (!k.startsWith('$')) out[k] = v;
  return out;
}

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

// The PATCH that turns `from` into `to`: changed members, removed ones as null (IoT Hub's delete).
export function diff(from, to) {
  const patch = {};
  for (const [k, v] of Object.entries(to)) {
    if (isObj(v) && isObj(from[k])) {
      const sub = diff(from[k], v);
      if (Object.keys(sub).length) patch[k] = sub;
    } else if (JSON.stringify(v) !== JSON.stringify(from[k])) patch[k] = v;
  }
  for (const k of Object.keys(from)) if (!(k in to)) patch[k] = null;
  return patch;
}

// Applies a PATCH the way the hub does (null deletes, objects merge).
export function applyPatch(base, patch) {
  const out = structuredClone(base);
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (isObj(v) && isObj(out[k])) out[k] = applyPatch(out[k], v);
    else out[k] = v;
  }
  return out;
}

// Leaves of reported properties with their $metadata.$lastUpdated.
function leaves(obj, meta, prefix, out) {
  for (const [k, v] of Object.entries(obj || {})) {
    if (k.startsWith('$')) continue;
    const m = meta && meta[k];
    const path = prefix ? `${prefix}.${k}` : k;
    if (isObj(v) && Object.keys(v).length) leaves(v, m, path, out);
    else out.push({path, value: v, updated: (m && m.$lastUpdated) || null});
  }
  return out;
}

function randomKey() {
  const b = new Uint8Array(32);
  crypto.getRandomValues(b);
  return btoa(String.fromCharCode(...b));
}

export async function render(root, ctx) {
  const {api, events, toast} = ctx;
  const id = ctx.params.id;
  const isAdmin = ctx.can('admin');
  const canOperate = ctx.can('operator');
  pageRoot(root, 'device', id);
  root.dataset.page = 'device';
  root.querySelector('h1').classList.add('wrap-anywhere');
  root.prepend(h('p', {class: 'back'}, h('a', {href: '#/devices'}, '← Devices')));
  const offs = [];
  let disposed = false;
  let identity = null;
  let twin = null;
  let showKeys = false;

  const notices = h('div', {dataset: {testid: 'device-notices'}});
  const identityBody = h('div', {}, loading());
  const identityPanel = h('section', {class: 'panel', 'aria-labelledby': 'h-identity', dataset: {testid: 'identity'}},
    h('div', {class: 'panel-head'}, h('h2', {id: 'h-identity'}, 'Identity'), h('div', {class: 'page-actions', dataset: {testid: 'identity-actions'}})), identityBody);
  const twinBody = h('div', {}, loading());
  const twinPanel = h('section', {class: 'panel', 'aria-labelledby': 'h-twin', dataset: {testid: 'twin-editor'}},
    h('div', {class: 'panel-head'}, h('h2', {id: 'h-twin'}, 'Tags and desired properties'), h('span', {class: 'muted', dataset: {testid: 'twin-version'}})), twinBody);
  const reportedBody = h('div', {}, loading());
  const reportedPanel = h('section', {class: 'panel', 'aria-labelledby': 'h-reported', dataset: {testid: 'reported'}},
    h('div', {class: 'panel-head'}, h('h2', {id: 'h-reported'}, 'Reported properties')), reportedBody);
  const methodPanel = canOperate ? h('section', {class: 'panel', 'aria-labelledby': 'h-method', dataset: {testid: 'method-panel'}},
    h('div', {class: 'panel-head'}, h('h2', {id: 'h-method'}, 'Invoke a direct method'))) : null;
  const messagesBody = h('div', {}, loading());
  const messagesPanel = h('section', {class: 'panel', 'aria-labelledby': 'h-messages', dataset: {testid: 'messages'}},
    h('div', {class: 'panel-head'}, h('h2', {id: 'h-messages'}, 'Recent messages'),
      h('button', {type: 'button', class: 'small', testid: 'messages-refresh', onclick: () => loadMessages()}, 'Refresh')), messagesBody);
  root.append(notices, h('div', {class: 'grid-2'}, h('div', {}, identityPanel, methodPanel), h('div', {}, twinPanel)), reportedPanel, messagesPanel);

  function notice(text, kind = '', testid = 'notice', ...extra) {
    const n = h('div', {class: `notice ${kind}`, role: 'status', dataset: {testid}}, text, ' ', extra);
    notices.querySelector(`[data-testid="${testid}"]`)?.remove();
    notices.append(n);
    return n;
  }

  // ---- identity
  const hostName = ctx.session.hostName || location.hostname;
  function keyRow(label, key, testid) {
    if (key === null || key === undefined) return [h('dt', {}, label), h('dd', {class: 'muted'}, isAdmin ? 'none' : 'hidden (admins only)')];
    return [h('dt', {}, label), h('dd', {}, showKeys ? h('span', {class: 'secret', dataset: {testid}}, key) : h('span', {class: 'muted', dataset: {testid}}, '•••••••• (hidden)'),
      showKeys ? [' ', copyButton(key, toast, 'Copy')] : null)];
  }
  function renderIdentity() {
    const d = identity;
    const keys = d.authentication?.symmetricKey || {};
    const conn = keys.primaryKey ? `HostName=${hostName};DeviceId=${d.deviceId};SharedAccessKey=${keys.primaryKey}` : null;
    const actions = identityPanel.querySelector('[data-testid="identity-actions"]');
    fill(actions,
      isAdmin && keys.primaryKey ? h('button', {type: 'button', class: 'small', testid: 'toggle-keys', 'aria-pressed': String(showKeys), onclick: () => { showKeys = !showKeys; renderIdentity(); }}, showKeys ? 'Hide keys' : 'Show keys') : null,
      isAdmin ? h('button', {type: 'button', class: 'small', testid: 'toggle-status', onclick: toggleStatus}, d.status === 'enabled' ? 'Disable' : 'Enable') : null,
      isAdmin && d.authentication?.type === 'sas' ? h('button', {type: 'button', class: 'small', testid: 'regenerate-keys', onclick: regenerateKeys}, 'Regenerate keys') : null,
      isAdmin && !d.moduleId ? h('button', {type: 'button', class: 'small', testid: 'replace-device', onclick: replaceDevice}, 'Replace…') : null,
      isAdmin && !d.moduleId ? h('button', {type: 'button', class: 'small danger', testid: 'retire-device', onclick: retireDevice}, 'Retire…') : null,
      isAdmin ? h('button', {type: 'button', class: 'small danger', testid: 'delete-device', onclick: deleteDevice}, 'Delete') : null);
    fill(identityBody, h('dl', {class: 'kv'},
      h('dt', {}, 'Status'), h('dd', {dataset: {testid: 'device-status'}}, statusBadge(d.status), d.statusReason ? ` ${d.statusReason}` : ''),
      h('dt', {}, 'Connection'), h('dd', {dataset: {testid: 'device-connection'}}, connectionBadge(d.connectionState),
        parseTime(d.connectionStateUpdatedTime) !== null ? [' ', h('span', {class: 'muted'}, 'since '), timeEl(d.connectionStateUpdatedTime)] : null),
      h('dt', {}, 'Last activity'), h('dd', {dataset: {testid: 'device-activity'}}, timeEl(d.lastActivityTime)),
      h('dt', {}, 'Authentication'), h('dd', {}, d.authentication?.type || '—'),
      keyRow('Primary key', keys.primaryKey, 'primary-key'),
      keyRow('Secondary key', keys.secondaryKey, 'secondary-key'),
      d.authentication?.x509Thumbprint?.primaryThumbprint ? [h('dt', {}, 'Thumbprint'), h('dd', {class: 'mono'}, d.authentication.x509Thumbprint.primaryThumbprint)] : null,
      h('dt', {}, 'Connection string'),
      h('dd', {}, conn ? [h('span', {class: showKeys ? 'secret' : 'muted', dataset: {testid: 'connection-string'}}, showKeys ? conn : `HostName=${hostName};DeviceId=${d.deviceId};SharedAccessKey=••••`), ' ',
        copyButton(conn, toast, 'Copy', 'copy-connection-string')] : h('span', {class: 'muted'}, isAdmin ? 'no symmetric key' : 'available to admins')),
      h('dt', {}, 'Cloud-to-device queue'), h('dd', {}, String(d.cloudToDeviceMessageCount ?? 0)),
      h('dt', {}, 'Generation'), h('dd', {class: 'mono'}, d.generationId || '—')));
  }
  // The identity comes from fetches and PUTs, its connection state also from events. Only the latest
  // fetch draws, and a connection event that arrived while a fetch or PUT was in flight is applied again on
  // its answer: the event may be newer than the server's snapshot, and a device that then stays connected
  // sends nothing that would correct the page.
  let identitySeq = 0;
  let connEvent = null;
  let connSeen = 0;
  function applyConn(d, ev) {
    d.connectionState = ev.type === 'device.connected' ? 'Connected' : 'Disconnected';
    d.connectionStateUpdatedTime = ev.time || new Date().toISOString();
    if (ev.type === 'device.connected') d.lastActivityTime = d.connectionStateUpdatedTime;
  }
  function takeIdentity(d, seenBefore) {
    const first = !identity;
    identity = d;
    if (connSeen !== seenBefore) applyConn(identity, connEvent);
    renderIdentity();
    if (first) loadMessages();
  }
  async function loadIdentity() {
    const mine = ++identitySeq;
    const seen = connSeen;
    try {
      const d = await api.get(`/devices/${enc(id)}`);
      if (disposed || mine !== identitySeq) return;
      takeIdentity(d, seen);
    } catch (e) {
      if (disposed || mine !== identitySeq) return;
      if (e.status === 404) {
        fill(identityBody, empty(`There is no device named ${id}.`));
        twinPanel.hidden = true;
        reportedPanel.hidden = true;
        messagesPanel.hidden = true;
        if (methodPanel) methodPanel.hidden = true;
      } else fill(identityBody, errorBox(e, loadIdentity));
    }
  }
  async function putIdentity(change, what) {
    const body = structuredClone(identity);
    change(body);
    const seen = connSeen;
    try {
      const d = await api.put(`/devices/${enc(id)}`, body, {ifMatch: identity.etag});
      identitySeq++; // a fetch still in flight read the device before this change
      takeIdentity(d, seen);
      toast(what, 'ok');
    } catch (e) {
      if (e.status === 412) {
        toast('The device changed meanwhile; it was reloaded. Try again.', 'error');
        await loadIdentity();
      } else toast(`Could not update the device: ${e.message}`, 'error');
    }
  }
  async function toggleStatus() {
    const to = identity.status === 'enabled' ? 'disabled' : 'enabled';
    if (to === 'disabled' && !await confirmDialog({title: `Disable ${id}?`, message: 'The device is disconnected and cannot connect until it is enabled again.', confirmLabel: 'Disable', danger: true})) return;
    await putIdentity((b) => { b.status = to; }, `Device ${to}.`);
  }
  async function regenerateKeys() {
    if (!await confirmDialog({title: 'Regenerate both keys?', message: 'The device must get its new connection string: connections using the old keys stop working.', confirmLabel: 'Regenerate', danger: true})) return;
    await putIdentity((b) => { b.authentication.symmetricKey = {primaryKey: randomKey(), secondaryKey: randomKey()}; }, 'New keys generated.');
  }
  async function deleteDevice() {
    if (!await confirmDialog({title: `Delete ${id}?`, message: 'Its identity and twin are removed. This cannot be undone.', confirmLabel: 'Delete device', danger: true})) return;
    try {
      await api.del(`/devices/${enc(id)}`, {ifMatch: identity.etag});
      toast(`Device ${id} deleted.`, 'ok');
      ctx.navigate('#/devices');
    } catch (e) {
      toast(`Could not delete: ${e.message}`, 'error');
    }
  }

  // Retiring keeps the twin in the archive (docs/lifecycle.md); replacing also creates the successor with
  // the old tags and desired properties. Both answer 404/409 with IoT Hub's error body, shown in the dialog.
  const reasonField = () => field('Reason (optional)', 'reason', {attrs: {maxlength: 255, placeholder: 'retired', testid: 'retire-reason'}});
  async function retireDevice() {
    const done = await formDialog({
      title: `Retire ${id}?`, submitLabel: 'Retire device', testid: 'retire-dialog',
      fields: [h('p', {}, 'Its twin goes to the archive, its identity and keys are deleted and its connection is closed. A retired id can never register again.'),
        reasonField()],
      onSubmit: async (fd) => {
        const reason = String(fd.get('reason') || '').trim();
        return api.post(`/devicehub/devices/${enc(id)}/retire`, reason ? {reason} : {});
      },
    });
    if (!done) return;
    toast(`Device ${id} retired; its twin is in the archive.`, 'ok');
    ctx.navigate(`#/archive/${enc(id)}`);
  }
  async function replaceDevice() {
    const done = await formDialog({
      title: `Replace ${id}`, submitLabel: 'Replace device', testid: 'replace-dialog',
      fields: [h('p', {}, `A new identity takes ${id}'s tags and desired properties, with new keys; ${id} is retired into the archive.`),
        field('New device id', 'newDeviceId', {attrs: {required: true, maxlength: 128, autocomplete: 'off', testid: 'replace-new-id'}}),
        reasonField()],
      onSubmit: async (fd) => {
        const reason = String(fd.get('reason') || '').trim();
        return api.post(`/devicehub/devices/${enc(id)}/replace`, {newDeviceId: String(fd.get('newDeviceId')).trim(), ...(reason ? {reason} : {})});
      },
    });
    if (!done) return;
    toast(`${id} replaced by ${done.device.deviceId}: give the device its new connection string.`, 'ok');
    ctx.navigate(`#/devices/${enc(done.device.deviceId)}`);
  }

  // ---- twin editor
  let base = null;           // {tags, desired, etag, version} the edit started from
  let dirty = false;
  const tagsArea = h('textarea', {id: 'twin-tags', rows: 8, spellcheck: 'false', testid: 'twin-tags', readonly: !canOperate});
  const desiredArea = h('textarea', {id: 'twin-desired', rows: 10, spellcheck: 'false', testid: 'twin-desired', readonly: !canOperate});
  const twinError = h('p', {class: 'form-error', role: 'alert', dataset: {testid: 'twin-error'}});
  const saveBtn = h('button', {type: 'submit', class: 'primary', testid: 'twin-save', disabled: true}, 'Save changes');
  const resetBtn = h('button', {type: 'button', testid: 'twin-reset', disabled: true, onclick: () => { loadTwinInto(twin); }}, 'Discard');
  const conflictBox = h('div', {dataset: {testid: 'twin-conflict'}});
  const twinForm = h('form', {},
    h('div', {class: 'field'}, h('label', {for: 'twin-tags'}, 'Tags (JSON)'), tagsArea),
    h('div', {class: 'field'}, h('label', {for: 'twin-desired'}, 'Desired properties (JSON)'), desiredArea),
    twinError, conflictBox,
    canOperate ? h('div', {class: 'toolbar'}, saveBtn, resetBtn, h('span', {class: 'muted'}, 'Removing a member sends null, which deletes it.')) : h('p', {class: 'muted'}, 'Read only for your role.'));
  twinForm.addEventListener('submit', (e) => { e.preventDefault(); saveTwin(); });
  for (const area of [tagsArea, desiredArea]) area.addEventListener('input', () => { dirty = true; validate(); });

  function parseEdit() {
    const out = {};
    for (const [name, area] of [['tags', tagsArea], ['desired', desiredArea]]) {
      let v;
      try { v = JSON.parse(area.value || '{}'); } catch (e) {
        area.setAttribute('aria-invalid', 'true');
        throw new Error(`${name === 'tags' ? 'Tags' : 'Desired properties'}: ${e.message}`);
      }
      if (!isObj(v)) {
        area.setAttribute('aria-invalid', 'true');
        throw new Error(`${name === 'tags' ? 'Tags' : 'Desired properties'} must be a JSON object.`);
      }
      area.removeAttribute('aria-invalid');
      out[name] = v;
    }
    return out;
  }
  function validate() {
    twinError.textContent = '';
    try {
      const e = parseEdit();
      const changed = Object.keys(diff(base.tags, e.tags)).length || Object.keys(diff(base.desired, e.desired)).length;
      saveBtn.disabled = !changed;
      resetBtn.disabled = !changed;
      dirty = !!changed;
      return e;
    } catch (err) {
      twinError.textContent = err.message;
      saveBtn.disabled = true;
      resetBtn.disabled = false;
      return null;
    }
  }
  function loadTwinInto(t, keepText) {
    base = {tags: t.tags || {}, desired: plain(t.properties?.desired), etag: t.etag, version: t.version};
    if (!keepText) {
      tagsArea.value = JSON.stringify(base.tags, null, 2);
      desiredArea.value = JSON.stringify(base.desired, null, 2);
      dirty = false;
      conflictBox.replaceChildren();
      notices.querySelector('[data-testid="twin-changed"]')?.remove();
    }
    twinPanel.querySelector('[data-testid="twin-version"]').textContent = `version ${t.version ?? '—'} · desired $version ${t.properties?.desired?.$version ?? '—'}`;
    validate();
  }
  function renderTwin() {
    if (!twinBody.contains(twinForm)) fill(twinBody, twinForm);
    if (!dirty) loadTwinInto(twin);
    renderReported();
  }
  async function fetchTwin() {
    return api.get(`/twins/${enc(id)}`);
  }
  // Fetches can answer out of order, and after an event-driven refetch: the twin's version says which is newer.
  const older = (t) => twin && typeof t.version === 'number' && t.version < twin.version;
  async function loadTwin() {
    try {
      const t = await fetchTwin();
      if (disposed || older(t)) return;
      twin = t;
      renderTwin();
    } catch (e) {
      if (disposed) return;
      if (e.status !== 404) fill(twinBody, errorBox(e, loadTwin));
      fill(reportedBody, e.status === 404 ? empty('No twin.') : errorBox(e, loadTwin));
    }
  }
  async function saveTwin() {
    const edit = validate();
    if (!edit) return;
    const patch = {};
    const tags = diff(base.tags, edit.tags);
    const desired = diff(base.desired, edit.desired);
    if (Object.keys(tags).length) patch.tags = tags;
    if (Object.keys(desired).length) patch.properties = {desired};
    if (!Object.keys(patch).length) return;
    saveBtn.disabled = true;
    try {
      twin = await api.patch(`/twins/${enc(id)}`, patch, {ifMatch: base.etag});
      dirty = false;
      loadTwinInto(twin);
      renderReported();
      toast('Twin saved.', 'ok');
    } catch (e) {
      if (e.status === 412) await showConflict(edit);
      else {
        twinError.textContent = `Not saved: ${e.message}`;
        saveBtn.disabled = false;
      }
    }
  }
  // Someone else changed the twin since the edit began: show both, overwrite nothing.
  async function showConflict(edit) {
    let current;
    try { current = await fetchTwin(); } catch (e) {
      twinError.textContent = `The twin changed elsewhere and could not be reloaded: ${e.message}`;
      return;
    }
    const mine = {tags: diff(base.tags, edit.tags), desired: diff(base.desired, edit.desired)};
    const cur = {tags: current.tags || {}, desired: plain(current.properties?.desired)};
    const side = (title, obj, testid) => h('div', {}, h('h3', {}, title), h('pre', {dataset: {testid}}, JSON.stringify(obj, null, 2)));
    fill(conflictBox, h('div', {class: 'notice bad', role: 'alert'},
      h('p', {}, h('strong', {}, 'Not saved: the twin was changed elsewhere '), `(now version ${current.version}). Nothing was overwritten. Compare, then re-apply your change on top of the current twin or discard it.`),
      h('div', {class: 'side-by-side'},
        side('Your edit', {tags: edit.tags, desired: edit.desired}, 'conflict-mine'),
        side('Current on the hub', cur, 'conflict-theirs')),
      h('div', {class: 'toolbar'},
        h('button', {type: 'button', class: 'primary', testid: 'conflict-reapply', onclick: () => {
          twin = current;
          loadTwinInto(current, true);
          tagsArea.value = JSON.stringify(applyPatch(cur.tags, mine.tags), null, 2);
          desiredArea.value = JSON.stringify(applyPatch(cur.desired, mine.desired), null, 2);
          conflictBox.replaceChildren();
          validate();
          twinError.textContent = '';
          toast('Your change is applied to the current twin in the editor. Review it and save.', 'info');
          tagsArea.focus();
        }}, 'Re-apply my change to the current twin'),
        h('button', {type: 'button', testid: 'conflict-discard', onclick: () => { twin = current; dirty = false; loadTwinInto(current); renderReported(); }}, 'Discard mine, load current'))));
    twin = current;
    renderReported();
  }

  // ---- reported
  function renderReported() {
    if (!twin) return;
    const rep = twin.properties?.reported || {};
    const rows = leaves(rep, rep.$metadata, '', []);
    fill(reportedBody,
      h('p', {class: 'muted'}, `$version ${rep.$version ?? '—'}`, rep.$metadata?.$lastUpdated ? ` · last updated ${formatTime(rep.$metadata.$lastUpdated)}` : ''),
      (() => {
        const t = table([
          {key: 'path', label: 'Property', class: 'mono wrap-anywhere'},
          {key: 'value', label: 'Value', class: 'wrap-anywhere', render: (r) => h('code', {}, JSON.stringify(r.value))},
          {key: 'updated', label: 'Updated', render: (r) => r.updated ? timeEl(r.updated) : h('span', {class: 'muted'}, '—')},
        ], rows, {caption: 'Reported properties', empty: 'The device has reported nothing yet.'});
        t.querySelector('table').classList.add('cards');
        t.querySelector('table').dataset.testid = 'reported-table';
        return t;
      })());
  }

  // ---- method
  if (methodPanel) {
    const nameIn = h('input', {id: 'm-name', required: true, maxlength: 128, testid: 'method-name', autocomplete: 'off'});
    const payloadIn = h('textarea', {id: 'm-payload', rows: 4, spellcheck: 'false', testid: 'method-payload'}, '{}');
    const timeoutIn = h('input', {id: 'm-timeout', type: 'number', min: 5, max: 300, value: '30', testid: 'method-timeout'});
    const result = h('div', {'aria-live': 'polite', dataset: {testid: 'method-result'}});
    const invokeBtn = h('button', {type: 'submit', class: 'primary', testid: 'method-invoke'}, 'Invoke');
    const form = h('form', {},
      h('div', {class: 'form-row'},
        h('div', {class: 'field'}, h('label', {for: 'm-name'}, 'Method name'), nameIn),
        h('div', {class: 'field', style: {flex: '0 0 9rem'}}, h('label', {for: 'm-timeout'}, 'Timeout (s)'), timeoutIn)),
      h('div', {class: 'field'}, h('label', {for: 'm-payload'}, 'Payload (JSON)'), payloadIn),
      invokeBtn, result);
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      let payload;
      try { payload = JSON.parse(payloadIn.value || 'null'); } catch (err) {
        payloadIn.setAttribute('aria-invalid', 'true');
        fill(result, h('p', {class: 'form-error', role: 'alert'}, `The payload is not valid JSON: ${err.message}`));
        return;
      }
      payloadIn.removeAttribute('aria-invalid');
      const timeout = Math.min(300, Math.max(5, parseInt(timeoutIn.value, 10) || 30));
      invokeBtn.disabled = true;
      fill(result, loading(`Waiting for ${id} to answer (up to ${timeout} s)…`));
      const t0 = performance.now();
      try {
        const r = await api.post(`/twins/${enc(id)}/methods`, {methodName: nameIn.value.trim(), payload, responseTimeoutInSeconds: timeout, connectTimeoutInSeconds: 0});
        const ms = Math.round(performance.now() - t0);
        fill(result, h('div', {class: `notice ${r.status >= 400 ? 'bad' : 'ok'}`, role: 'status'},
          h('strong', {dataset: {testid: 'method-status'}}, `Status ${r.status}`), ` after ${ms} ms`,
          h('pre', {dataset: {testid: 'method-payload-result'}}, JSON.stringify(r.payload, null, 2))));
      } catch (err) {
        fill(result, h('div', {class: 'notice bad', role: 'alert', dataset: {testid: 'method-error'}},
          h('strong', {}, err.code || `HTTP ${err.status}`), `: ${err.message}`));
      } finally {
        invokeBtn.disabled = false;
      }
    });
    methodPanel.append(form);
  }

  // ---- messages
  async function loadMessages() {
    fill(messagesBody, loading());
    try {
      const list = await api.get(`/devicehub/devices/${enc(id)}/messages`);
      if (disposed) return;
      const items = (Array.isArray(list) ? list : []).slice().reverse();
      const t = table([
        {key: 'enqueuedTime', label: 'Received', render: (m) => timeEl(m.enqueuedTime)},
        {key: 'moduleId', label: 'Module', render: (m) => m.moduleId || '—'},
        {key: 'size', label: 'Bytes', class: 'num'},
        {key: 'body', label: 'Body', class: 'wrap-anywhere', render: (m) => h('code', {}, typeof m.body === 'string' ? m.body.slice(0, 300) : JSON.stringify(m.body).slice(0, 300), m.truncated ? ' …' : '')},
      ], items, {caption: 'The last device-to-cloud messages', empty: 'No messages since the hub started.'});
      t.querySelector('table').classList.add('cards');
      fill(messagesBody, t);
    } catch (e) {
      if (disposed) return;
      fill(messagesBody, e.status === 404 ? empty('No messages.') : errorBox(e, loadMessages));
    }
  }

  // ---- live
  const mine = (ev) => ev.deviceId === id && !ev.moduleId;
  const refetchTwin = throttle(async () => {
    try {
      const t = await fetchTwin();
      if (disposed || older(t)) return;
      const desiredChanged = twin && (t.etag !== twin.etag) && (JSON.stringify(t.tags) !== JSON.stringify(twin.tags) ||
        JSON.stringify(plain(t.properties?.desired)) !== JSON.stringify(plain(twin.properties?.desired)));
      twin = t;
      if (dirty && desiredChanged) {
        notice('The tags or desired properties changed elsewhere while you edit. Saving will show both versions; nothing is overwritten.', '', 'twin-changed',
          h('button', {type: 'button', class: 'link', onclick: () => { dirty = false; loadTwinInto(twin); }}, 'Discard my edit and load the current twin'));
        renderReported();
      } else renderTwin();
    } catch { /* the next event or a resync retries */ }
  }, 700);
  offs.push(events.on('twin.updated', (ev) => { if (mine(ev)) refetchTwin(); }));
  const onConn = (ev) => {
    if (!mine(ev)) return;
    connEvent = ev;
    connSeen++;
    if (!identity) return; // the first load applies it (takeIdentity)
    applyConn(identity, ev);
    renderIdentity();
  };
  offs.push(events.on('device.connected', onConn));
  offs.push(events.on('device.disconnected', onConn));
  offs.push(events.on('device.updated', (ev) => { if (mine(ev)) loadIdentity(); }));
  offs.push(events.on('device.deleted', (ev) => {
    if (mine(ev)) notice('This device was deleted.', 'bad', 'device-deleted', h('a', {href: '#/devices'}, 'Back to the devices'));
  }));
  offs.push(events.onResync(() => { loadIdentity(); refetchTwin(); }));

  await Promise.all([loadIdentity(), loadTwin()]);
  if (!identity) messagesBody.replaceChildren(); // no device: no messages (a later answer still loads them)

  return () => {
    disposed = true;
    refetchTwin.cancel();
    offs.forEach((off) => off());
  };
}
