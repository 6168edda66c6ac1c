import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Balancer } from '../../../src/balancer/balancer.js';
import type { HealthConfig } from '../../../src/config/config-types.js';
import { untilConverged } from '../../../src/supervisor/convergence.js';
import { DEFAULT_STUCK_SETTINGS } from '../../../src/supervisor/stuck-watch.js';
import { Supervisor, type SupervisorSettings } from '../../../src/supervisor/supervisor.js';
import type { ReplicaEvent } from '../../../src/supervisor/supervisor-events.js';
import { startDataPlane } from '../../support/data-plane.js';
import { FakeLauncher } from '../../support/fake-launcher.js';
import { cgiParams, fastcgiRequest } from '../../support/fastcgi-client-request.js';
import { makeTempDir } from '../../support/temp-dir.js';
import { waitFor } from '../../support/wait-for.js';

// The supervisor's reactions through a fake launcher: no process, so each case takes
// milliseconds. The same reactions on real php-fpm are in test/integration.

const logger = pino({ level: 'silent' });
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
});

const HEALTH: HealthConfig = {
  path: '/fake-health',
  expect: 'pong',
  intervalMs: 20,
  timeoutMs: 200,
  failures: 2,
  startTimeoutMs: 400,
};

interface Harness {
  readonly supervisor: Supervisor;
  readonly launcher: FakeLauncher;
  readonly events: ReplicaEvent[];
  readonly toggles: string[];
  readonly dir: string;
}

function harness(
  overrides: Partial<SupervisorSettings> = {},
  balancer: Balancer | null = null,
): Harness {
  const temp = makeTempDir('lifecycle');
  cleanups.push(temp.remove);
  const launcher = new FakeLauncher(temp.path, HEALTH.path);
  const ownBalancer =
    balancer ??
    new Balancer({
      queue: 10,
      queueTimeoutMs: 1_000,
      idleTimeoutMs: 30_000,
      connectTimeoutMs: 1_000,
      probeIntervalMs: 1_000,
      logger,
    });
  if (balancer === null) cleanups.push(() => ownBalancer.close());
  const supervisor = new Supervisor({
    settings: {
      count: 1,
      capacity: 1,
      surge: false,
      surgeMarginBytes: 0,
      health: HEALTH,
      drainTimeoutMs: 200,
      warmup: [],
      warmupTimeoutMs: 200,
      releaseHeader: null,
      watchdog: DEFAULT_STUCK_SETTINGS,
      launcher,
      ...overrides,
    },
    balancer: ownBalancer,
    symlink: `${temp.path}/current`,
    release: '/srv/app/releases/r1',
    logger,
    backoff: { baseMs: 10, maxMs: 50 },
    tickMs: 20,
  });
  cleanups.push(() => supervisor.shutdown(0));
  const events: ReplicaEvent[] = [];
  supervisor.onEvent((event) => {
    if (event.kind === 'replica') events.push(event);
  });
  const toggles: string[] = [];
  supervisor.onToggle((event) => toggles.push(event.release));
  return { supervisor, launcher, events, toggles, dir: temp.path };
}

async function converged(supervisor: Supervisor): Promise<void> {
  expect(await untilConverged(supervisor, 5_000)).toEqual({ ok: true });
}

describe('supervisor lifecycle (fake launcher)', () => {
  it('a worker that exits during its start fails, backs off and starts again', async () => {
    const { supervisor, launcher, events } = harness();
    launcher.plan = (spec) => ({ health: spec.incarnation === 1 ? 'fail' : 'pass' });
    supervisor.start();
    await waitFor(() => launcher.workers.length === 1, { timeoutMs: 2_000, what: 'a launch' });
    const first = launcher.latest('replica-1');
    first.crash(3);
    await converged(supervisor);

    const failed = events.find((event) => event.state === 'failed');
    expect(failed?.message).toBe(`process ${first.pids[0]} exited unexpectedly (code 3)`);
    expect(events.map((event) => event.state)).toEqual([
      'starting',
      'failed',
      'backing-off',
      'starting',
      'ready',
    ]);
    const [slot] = supervisor.snapshot();
    expect(slot).toMatchObject({ state: 'ready', restarts: 1, lastError: null });
    expect(slot?.pids).toEqual(launcher.latest('replica-1').pids);
    // A crashed master's orphans are stopped too.
    expect(first.stoppedAt).not.toBeNull();
  });

  it('a start with no healthy answer fails on time, with the last full check’s reason', async () => {
    const { supervisor, launcher, events } = harness();
    launcher.plan = () => ({ health: 'fail' });
    const started = Date.now();
    supervisor.start();
    await waitFor(() => events.find((event) => event.state === 'failed'), {
      timeoutMs: 3_000,
      what: 'the failed start',
    });
    const failed = events.find((event) => event.state === 'failed');
    expect(failed?.message).toBe(
      `no healthy answer on ${HEALTH.path} within ${HEALTH.startTimeoutMs} ms: status 503 (body starts: "not yet")`,
    );
    const took = Date.now() - started;
    expect(took).toBeGreaterThanOrEqual(HEALTH.startTimeoutMs);
    expect(took).toBeLessThan(HEALTH.startTimeoutMs + 1_000);
    expect(launcher.workers[0]?.stoppedAt).not.toBeNull();
  });

  it('a ready replica that fails its health checks is replaced, a replacement first', async () => {
    const { supervisor, launcher, events } = harness({ count: 2 });
    supervisor.start();
    await converged(supervisor);
    const sick = launcher.latest('replica-1');
    const other = launcher.latest('replica-2');
    sick.health = 'fail';
    await waitFor(() => events.find((event) => event.message.startsWith('draining (unhealthy')), {
      timeoutMs: 3_000,
      what: 'the unhealthy drain',
    });
    // The spare came up before the failing replica left the rotation.
    const step = (name: string, prefix: string) =>
      events.findIndex((event) => event.name === name && event.message.startsWith(prefix));
    expect(step('replica-3', 'ready')).toBeGreaterThanOrEqual(0);
    expect(step('replica-3', 'ready')).toBeLessThan(step('replica-1', 'draining (unhealthy'));
    await waitFor(
      () =>
        launcher.latest('replica-1') !== sick &&
        supervisor.isConverged() &&
        supervisor.snapshot().length === 2,
      { timeoutMs: 5_000, what: 'replica-1 replaced and the spare gone' },
    );
    expect(sick.stoppedAt).not.toBeNull();
    expect(other.stoppedAt).toBeNull();
    expect(launcher.latest('replica-3').stoppedAt).not.toBeNull();
    const [one, two] = supervisor.snapshot();
    expect(one).toMatchObject({ state: 'ready', restarts: 1, healthFailures: 0 });
    expect(two).toMatchObject({ state: 'ready', restarts: 0 });
    expect(launcher.workers).toHaveLength(4);
  });

  it('a drain with a request in flight stops the replica once the drain timeout passes', async () => {
    const temp = makeTempDir('lifecycle-front');
    cleanups.push(temp.remove);
    const plane = await startDataPlane({
      dir: temp.path,
      replicas: [],
      symlink: '/srv/app/current',
    });
    cleanups.push(() => plane.stop());
    const drainTimeoutMs = 300;
    const { supervisor, launcher, events } = harness({ drainTimeoutMs }, plane.balancer);
    supervisor.start();
    await converged(supervisor);
    const held = fastcgiRequest(plane.socket, {
      params: cgiParams('/slow.php'),
      timeoutMs: 5_000,
    }).then(
      () => 'answered',
      () => 'cut',
    );
    await waitFor(() => supervisor.snapshot()[0]?.inFlight === 1, {
      timeoutMs: 2_000,
      what: 'the request in flight',
    });
    const old = launcher.latest('replica-1');
    const drainStarted = Date.now();
    supervisor.restartAll();
    await converged(supervisor);

    expect(events.find((event) => event.state === 'draining')?.message).toBe(
      'draining (outdated, 1 in flight)',
    );
    expect((old.stoppedAt ?? 0) - drainStarted).toBeGreaterThanOrEqual(drainTimeoutMs);
    expect(launcher.latest('replica-1')).not.toBe(old);
    await held;
  });

  it('a deploy abandoned for a newer target never serves the abandoned one', async () => {
    const { supervisor, launcher, toggles } = harness({
      count: 2,
      health: { ...HEALTH, startTimeoutMs: 1_000 },
    });
    // r2 never answers healthily: its replicas stay starting until they are given up.
    launcher.plan = (spec) => ({ health: spec.release.endsWith('/r2') ? 'fail' : 'pass' });
    supervisor.start();
    await converged(supervisor);
    supervisor.setRelease('/srv/app/releases/r2');
    await waitFor(() => launcher.workers.some((worker) => worker.spec.release.endsWith('/r2')), {
      timeoutMs: 2_000,
      what: 'a replica starting on r2',
    });
    supervisor.setRelease('/srv/app/releases/r3');
    await converged(supervisor);

    expect(supervisor.servingRelease).toBe('/srv/app/releases/r3');
    expect(toggles).toEqual(['/srv/app/releases/r3']);
    expect(supervisor.snapshot().map((slot) => slot.release)).toEqual([
      '/srv/app/releases/r3',
      '/srv/app/releases/r3',
    ]);
    const onR2 = launcher.workers.filter((worker) => worker.spec.release.endsWith('/r2'));
    expect(onR2.every((worker) => worker.stoppedAt !== null)).toBe(true);
  });
});
