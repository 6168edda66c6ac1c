import { afterEach, describe, expect, it } from 'vitest';
import type { HealthConfig } from '../../../src/config/config-types.js';
import { type HealthEvent, HealthMonitor } from '../../../src/supervisor/health-monitor.js';
import { FakeLauncher, type FakeWorker } from '../../support/fake-launcher.js';
import { makeTempDir } from '../../support/temp-dir.js';
import { waitFor } from '../../support/wait-for.js';

// The checks' timing is what the supervisor's reactions rest on: at start-up back to back with
// a 100 ms pause, while ready one per interval and never two at once.

const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
});

const HEALTH: HealthConfig = {
  path: '/fake-health',
  expect: 'pong',
  intervalMs: 100,
  timeoutMs: 200,
  failures: 3,
  startTimeoutMs: 1_000,
};

async function fakeWorker(health: FakeWorker['health']): Promise<FakeWorker> {
  const temp = makeTempDir('health-monitor');
  cleanups.push(temp.remove);
  const launcher = new FakeLauncher(temp.path, HEALTH.path);
  launcher.plan = () => ({ health });
  const worker = (await launcher.launch({
    name: 'replica-1',
    incarnation: 1,
    release: '/srv/app/releases/r1',
    capacity: 1,
  })) as FakeWorker;
  cleanups.push(async () => {
    await worker.stop(0);
  });
  return worker;
}

function monitorOf(worker: FakeWorker, health: HealthConfig = HEALTH) {
  const events: Array<HealthEvent & { at: number }> = [];
  const monitor = new HealthMonitor(worker.address, '/srv/app/releases/r1', health, (event) =>
    events.push({ ...event, at: Date.now() }),
  );
  cleanups.push(() => monitor.stop());
  return { monitor, events };
}

function gaps(times: readonly number[]): number[] {
  return times.slice(1).map((time, index) => time - (times[index] as number));
}

describe('HealthMonitor', () => {
  it('at start-up checks back to back with a 100 ms pause until the start timeout, then reports it once', async () => {
    const worker = await fakeWorker('fail');
    const { monitor, events } = monitorOf(worker);
    const started = Date.now();
    monitor.watchStartUp(() => true);
    await waitFor(() => events.length > 0, { timeoutMs: 5_000, what: 'the start-up verdict' });
    const checks = worker.healthChecks.length;
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      kind: 'start-timeout',
      reason: `no healthy answer on ${HEALTH.path} within ${HEALTH.startTimeoutMs} ms: status 503 (body starts: "not yet")`,
    });
    expect((events[0]?.at ?? 0) - started).toBeGreaterThanOrEqual(HEALTH.startTimeoutMs);
    // About ten checks in the second: one per pause, none faster, none after the verdict (the
    // last pause is cut short by the deadline: not counted).
    expect(checks).toBeGreaterThanOrEqual(5);
    expect(checks).toBeLessThanOrEqual(12);
    for (const gap of gaps(worker.healthChecks).slice(0, -1))
      expect(gap).toBeGreaterThanOrEqual(95);
    expect(worker.healthChecks).toHaveLength(checks);
  });

  it('at start-up reports healthy once and checks no more', async () => {
    const worker = await fakeWorker('pass');
    const { monitor, events } = monitorOf(worker);
    monitor.watchStartUp(() => true);
    await waitFor(() => events.length > 0, { timeoutMs: 5_000, what: 'the healthy check' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(events.map((event) => event.kind)).toEqual(['healthy']);
    expect(worker.healthChecks).toHaveLength(1);
  });

  it('while ready checks once per interval, reports each result, and stops when told', async () => {
    const worker = await fakeWorker('pass');
    const { monitor, events } = monitorOf(worker);
    monitor.watchReady();
    await waitFor(() => events.length >= 3, { timeoutMs: 5_000, what: 'three checks' });
    worker.health = 'fail';
    await waitFor(() => events.some((event) => event.kind === 'unhealthy'), {
      timeoutMs: 5_000,
      what: 'a failed check',
    });
    monitor.stop();
    const checks = worker.healthChecks.length;
    await new Promise((resolve) => setTimeout(resolve, 300));

    expect(events.slice(0, 3).map((event) => event.kind)).toEqual([
      'healthy',
      'healthy',
      'healthy',
    ]);
    expect(events.find((event) => event.kind === 'unhealthy')).toMatchObject({
      reason: 'status 503 (body starts: "not yet")',
    });
    // 100 ms apart, give or take the connects' jitter on a loaded machine: never back to back.
    for (const gap of gaps(worker.healthChecks)) expect(gap).toBeGreaterThanOrEqual(50);
    expect(worker.healthChecks).toHaveLength(checks);
  });

  it('while ready never has two checks at once: an interval with one unanswered is skipped', async () => {
    const worker = await fakeWorker('silent');
    // Each check waits 450 ms for its answer: four intervals pass meanwhile.
    const { monitor, events } = monitorOf(worker, { ...HEALTH, timeoutMs: 450 });
    monitor.watchReady();
    await waitFor(() => events.length >= 2, { timeoutMs: 5_000, what: 'two timed-out checks' });
    monitor.stop();
    expect(events.slice(0, 2).map((event) => event.kind)).toEqual(['unhealthy', 'unhealthy']);
    // Overlapping checks would arrive an interval (100 ms) apart.
    for (const gap of gaps(worker.healthChecks)) expect(gap).toBeGreaterThanOrEqual(300);
  });
});
