import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { Balancer } from '../../src/balancer/balancer.js';
import type { CommandReplicasConfig, HealthConfig } from '../../src/config/config-types.js';
import { DEFAULT_STUCK_SETTINGS } from '../../src/supervisor/stuck-watch.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import type { ReplicaEvent } from '../../src/supervisor/supervisor-events.js';
import { CommandLauncher } from '../../src/supervisor/workers/command-launcher.js';
import { runSwitchyard } from '../support/switchyard-process.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const logger = pino({ level: 'silent' });
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
});

const HEALTH: HealthConfig = {
  path: '/fpm-ping',
  expect: 'pong',
  intervalMs: 500,
  timeoutMs: 1_000,
  failures: 3,
  startTimeoutMs: 5_000,
};

function commandReplicas(argv: string[]): CommandReplicasConfig {
  return {
    kind: 'command',
    count: 2,
    capacity: 1,
    idleTimeoutMs: 30_000,
    connectTimeoutMs: 2_000,
    surge: false,
    surgeMarginBytes: 0,
    command: { argv, env: {} },
  };
}

describe('supervisor failures', () => {
  it('backs off a command that exits at once instead of spinning', async () => {
    const temp = makeTempDir('backoff');
    cleanups.push(temp.remove);
    const balancer = new Balancer({
      queue: 10,
      queueTimeoutMs: 1_000,
      idleTimeoutMs: 30_000,
      connectTimeoutMs: 1_000,
      probeIntervalMs: 1_000,
      logger,
    });
    const supervisor = new Supervisor({
      settings: {
        count: 2,
        capacity: 1,
        surge: false,
        surgeMarginBytes: 0,
        health: HEALTH,
        drainTimeoutMs: 1_000,
        warmup: [],
        warmupTimeoutMs: 1_000,
        releaseHeader: null,
        watchdog: DEFAULT_STUCK_SETTINGS,
        launcher: new CommandLauncher({
          replicas: commandReplicas(['/bin/sh', '-c', 'echo "boom: no config" >&2; exit 3']),
          runtimeDir: join(temp.path, 'run'),
          drainTimeoutMs: 1_000,
          logger,
        }),
      },
      balancer,
      symlink: join(temp.path, 'current'),
      release: temp.path,
      logger,
      backoff: { baseMs: 200, maxMs: 5_000 },
    });
    cleanups.push(() => supervisor.shutdown());
    const starts: number[] = [];
    const failures: ReplicaEvent[] = [];
    supervisor.onEvent((event) => {
      if (event.kind !== 'replica' || event.slot !== 0) return;
      if (event.state === 'starting') starts.push(Date.now());
      if (event.state === 'failed') failures.push(event);
    });
    supervisor.start();
    await waitFor(() => starts.length >= 4, { timeoutMs: 10_000, what: 'four starts of slot 0' });
    // With base 200 ms the gaps are at least 100, 200, 400 ms (equal jitter): growing, not a spin.
    const gaps = starts.slice(1).map((at, i) => at - (starts[i] as number));
    expect(gaps[0]).toBeGreaterThanOrEqual(90);
    expect(gaps[2]).toBeGreaterThanOrEqual(390);
    expect(starts.length).toBeLessThan(8);
    expect(failures[0]?.message).toContain('code 3');
    const slot = supervisor.snapshot()[0];
    expect(slot?.lastError).toContain('boom: no config');
    expect(slot?.restarts).toBeGreaterThanOrEqual(3);
  });

  it('refuses to serve when no replica becomes ready, exiting 1 with the worker output', async () => {
    const temp = makeTempDir('no-boot');
    cleanups.push(temp.remove);
    const release = join(temp.path, 'release');
    mkdirSync(release);
    writeFileSync(join(release, 'x'), '');
    symlinkSync(release, join(temp.path, 'current'));
    const config = [
      '[listen]',
      `fastcgi = "unix:${join(temp.path, 'sy.sock')}"`,
      '[release]',
      `symlink = "${join(temp.path, 'current')}"`,
      '[replicas]',
      'kind = "command"',
      'count = 2',
      'capacity = 1',
      '[replicas.command]',
      'argv = ["/bin/sh", "-c", "echo release bootstrap failed >&2; exit 3"]',
      '[health]',
      'start_timeout = "1s"',
      '[control]',
      `socket = "${join(temp.path, 'control.sock')}"`,
      '[paths]',
      `runtime = "${join(temp.path, 'run')}"`,
      `state = "${join(temp.path, 'state')}"`,
      '',
    ].join('\n');
    const configPath = join(temp.path, 'switchyard.toml');
    writeFileSync(configPath, config);
    const result = await runSwitchyard(['daemon', '-c', configPath]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('no replica became ready');
    expect(result.stderr).toContain('release bootstrap failed');
  });
});
