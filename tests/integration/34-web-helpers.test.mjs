// The dashboard's live-update helpers (web/ui.js, web/ops.js) in Node: pure functions, no DOM needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { throttle } from '../../web/ui.js';
import { applyProgress } from '../../web/ops.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('throttle: the trailing call runs even when its timer fires early by the wall clock', async () => {
  const realNow = Date.now;
  let calls = 0;
  const t = throttle(() => { calls++; }, 50);
  try {
    t();              // runs at once
    assert.equal(calls, 1);
    t();              // within 50 ms: a trailing call is scheduled
    // The wall clock lags the timer clock by 5 ms when the timer fires (NTP slew, coarse clocks).
    Date.now = () => realNow() - 5;
    await sleep(80);
    assert.equal(calls, 2, 'the trailing call ran');
    Date.now = realNow;
    await sleep(60);
    t();              // and the throttle still works afterwards
    assert.equal(calls, 3);
  } finally {
    Date.now = realNow;
    t.cancel();
  }
});

test('throttle: many calls in one window give one trailing call', async () => {
  let calls = 0;
  const t = throttle(() => { calls++; }, 40);
  t();
  for (let i = 0; i < 10; i++) t();
  await sleep(70);
  assert.equal(calls, 2);
  t.cancel();
});

test('applyProgress: a finished job does not go back to an older status', () => {
  const job = { jobId: 'j', status: 'running', deviceJobStatistics: { deviceCount: 2, succeededCount: 1 } };
  assert.equal(applyProgress(job, { status: 'cancelled', deviceJobStatistics: { deviceCount: 2, succeededCount: 1 } }), true);
  assert.equal(applyProgress(job, { status: 'queued', deviceJobStatistics: { deviceCount: 0 } }), false);
  assert.equal(job.status, 'cancelled');
  assert.equal(job.deviceJobStatistics.deviceCount, 2);
  // Finished to finished still applies (the final event after an earlier one).
  const done = { status: 'completed' };
  applyProgress(done, { status: 'completed', deviceJobStatistics: { deviceCount: 8, succeededCount: 8 } });
  assert.equal(done.deviceJobStatistics.succeededCount, 8);
});
