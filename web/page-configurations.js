// page-configurations.js (#/configurations): automatic device configurations with their target
// condition, priority and targeted / applied counts (systemMetrics), and a form to create one (id, target
// condition with a live device count, priority, desired content, labels). The counts move as the
// reconciler reaches devices: twin.updated events refetch the list, at most every 3 seconds.

import {h, pageRoot, table, setRows, timeEl, fmtNumber, throttle, field} from './ui.js';
import {enc} from './api.js';
import {allowed, conditionField, jsonField, showFormError, clearFormError, parseLabels, labelsText, deviceContent} from './ops.js';

function createForm(ctx, onCreated) {
  const form = h('form', {class: 'panel stack', novalidate: true, 'aria-labelledby': 'cfg-new-h', testid: 'config-form'});
  const errBox = h('div', {class: 'notice bad', role: 'alert', hidden: true, testid: 'config-form-error'});
  const idF = field('Configuration id', 'id', {attrs: {required: true, maxlength: 128, testid: 'config-id', autocomplete: 'off'},
    hint: 'Lower case, digits and - . _ and a few more; it cannot change later.'});
  const target = conditionField(ctx, {label: 'Target condition', testid: 'config-condition', value: '*',
    hint: 'The part after WHERE; * targets every device.'});
  const prio = field('Priority', 'priority', {type: 'number', value: '10', attrs: {min: 0, testid: 'config-priority'},
    hint: 'When configurations want the same property, the highest priority wins.'});
  const content = jsonField('Desired properties (JSON)', 'content', {rows: 5, testid: 'config-content',
    value: '{\n  "telemetry": {"intervalSeconds": 30}\n}',
    hint: 'Merged into properties.desired of every targeted twin. Keys like "properties.desired.a.b" set paths. Content cannot change later.'});
  const labels = field('Labels', 'labels', {attrs: {placeholder: 'team=ops, ring=canary', testid: 'config-labels'}});
  const submit = h('button', {type: 'submit', class: 'primary', testid: 'config-create'}, 'Create configuration');
  form.append(h('h2', {id: 'cfg-new-h'}, 'New configuration'), idF, target.el, h('div', {class: 'form-row'}, prio, labels), content.el, errBox,
    h('div', {class: 'form-actions'}, submit,
      h('button', {type: 'button', onclick: () => { form.hidden = true; }}, 'Cancel')));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(errBox);
    const fields = [[/\bid\b|ConfigurationAlreadyExists|exists/i, idF], [/targetCondition|query|syntax/i, target.el],
      [/priority/i, prio], [/label/i, labels], [/content|desired|twin/i, content.el]];
    let body;
    try {
      const id = form.elements.namedItem('id').value.trim();
      if (!id) throw new Error('id: give the configuration an id');
      body = {id, schemaVersion: '1.0', targetCondition: target.value(),
        priority: Number(form.elements.namedItem('priority').value || 0),
        labels: parseLabels(form.elements.namedItem('labels').value),
        content: {deviceContent: deviceContent(content.value())}};
    } catch (err) {
      showFormError(errBox, err, fields);
      return;
    }
    submit.disabled = true;
    try {
      await ctx.api.put(`/configurations/${enc(body.id)}`, body);
      ctx.toast(`Configuration ${body.id} created`, 'ok');
      onCreated(body.id);
    } catch (err) {
      showFormError(errBox, err, fields);
    } finally {
      submit.disabled = false;
    }
  });
  return {form, focus: () => form.querySelector('input').focus(), cancel: target.cancel};
}

export async function render(root, ctx) {
  const {api, events} = ctx;
  const canWrite = allowed(ctx, 'operator');
  let creator = null;
  const newBtn = canWrite ? h('button', {type: 'button', class: 'primary', testid: 'config-new', onclick: () => {
    creator.form.hidden = false;
    creator.focus();
  }}, 'New configuration') : null;
  pageRoot(root, 'configurations', 'Configurations', newBtn);
  if (canWrite) {
    creator = createForm(ctx, (id) => ctx.navigate(`#/configurations/${enc(id)}`));
    creator.form.hidden = ctx.params.new !== '1';
    root.append(creator.form);
  }
  root.append(h('p', {class: 'muted'}, 'A configuration keeps desired properties on every twin its condition selects, as twins change. ',
    'Targeted: devices the condition selects; applied: devices where it won every one of its properties.'));

  const columns = [
    {label: 'Configuration', render: (c) => h('a', {href: `#/configurations/${enc(c.id)}`, testid: 'config-link'}, c.id)},
    {label: 'Target condition', class: 'wrap-anywhere', render: (c) => h('code', {}, c.targetCondition || '(none)')},
    {label: 'Priority', class: 'num', render: (c) => String(c.priority ?? 0)},
    {label: 'Targeted', class: 'num', render: (c) => h('span', {dataset: {testid: 'targeted'}}, fmtNumber(((c.systemMetrics || {}).results || {}).targetedCount ?? 0))},
    {label: 'Applied', class: 'num', render: (c) => h('span', {dataset: {testid: 'applied'}}, fmtNumber(((c.systemMetrics || {}).results || {}).appliedCount ?? 0))},
    {label: 'Labels', render: (c) => labelsText(c.labels) || null},
    {label: 'Created', render: (c) => timeEl(c.createdTimeUtc)},
  ];
  const rowAttrs = (c) => ({dataset: {testid: 'config-row', configId: c.id}});
  const tableEl = table(columns, [], {caption: 'Configurations', state: 'loading', rowAttrs});
  tableEl.querySelector('table').classList.add('cards');
  root.append(tableEl);

  let seq = 0;
  async function load() {
    const mine = ++seq;
    try {
      const list = await api.get('/configurations?top=100');
      if (mine !== seq) return;
      const rows = (Array.isArray(list) ? list : []).sort((a, b) => (b.priority ?? 0) - (a.priority ?? 0) || a.id.localeCompare(b.id));
      setRows(tableEl, columns, rows, {rowAttrs, empty: canWrite ? 'No configurations yet. Create one with “New configuration”.' : 'No configurations yet.'});
    } catch (e) {
      if (mine !== seq) return;
      setRows(tableEl, columns, [], {state: 'error', error: e, retry: load});
    }
  }
  // Subscribed before the first load, so that a change during it is not missed (load keeps the latest).
  const reload = throttle(load, 3000);
  const off = [events.on('twin.updated', reload), events.onResync(reload)];
  await load();
  return () => {
    seq++;
    reload.cancel();
    off.forEach((f) => f());
    if (creator) creator.cancel();
  };
}
