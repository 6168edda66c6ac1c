import { execFileSync } from 'node:child_process';
import { readlinkSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { OutputLog } from '../../src/supervisor/workers/output-log.js';
import { PhpFpmLauncher } from '../../src/supervisor/workers/php-fpm-launcher.js';
import {
  liveGroupMembers,
  sendSignal,
  stopGroups,
} from '../../src/supervisor/workers/process-stop.js';
import type { Worker } from '../../src/supervisor/workers/worker.js';
import {
  spawnWorkerProcess,
  type WorkerProcess,
} from '../../src/supervisor/workers/worker-process.js';
import { waitForStart } from '../../src/supervisor/workers/worker-start.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

// The lifeline: fd 3 of every worker process, inherited by all it forks. switchyard learns
// that a process group is gone when the last holder exits, without polling /proc.

const phpCgi = requireSystemTool(SystemTool.phpCgi);
const phpFpm = requireSystemTool(SystemTool.phpFpm);
const r1 = realpathSync(join(repoRoot, 'fixtures/php/releases/r1'));
const logger = silentLogger();
const cleanups: Array<() => Promise<void> | void> = [];

afterEach(async () => {
  for (const step of cleanups.splice(0).reverse()) await step();
});

/** What fd 3 of `pid` is (`socket:[inode]`), or null. */
function fd3(pid: number): string | null {
  try {
    return readlinkSync(`/proc/${pid}/fd/3`);
  } catch {
    return null;
  }
}

/** php-cgi with `children` children of its own, listening on a socket in a temp dir. */
async function phpCgiGroup(children: number): Promise<WorkerProcess> {
  const temp = makeTempDir('lifeline');
  cleanups.push(temp.remove);
  const socket = join(temp.path, 'cgi.sock');
  const spawned = spawnWorkerProcess({
    argv: [phpCgi as string, '-b', socket],
    cwd: r1,
    env: { ...process.env, PHP_FCGI_CHILDREN: String(children) },
    stdin: 'ignore',
    output: new OutputLog({ logger, replica: 'lifeline' }),
    logger,
  });
  if (!spawned.ok) throw await spawned.error;
  const group = spawned.process;
  cleanups.push(() => {
    if (liveGroupMembers(group.pid).length > 0) sendSignal(-group.pid, 'SIGKILL');
  });
  expect(await waitForStart([group], socket, 10_000)).toBeNull();
  await waitFor(() => liveGroupMembers(group.pid).length === children + 1, {
    timeoutMs: 5_000,
    what: `php-cgi's ${children} children`,
  });
  return group;
}

/** Whether `promise` has settled once the callbacks already queued have run. */
async function settled(promise: Promise<unknown>): Promise<boolean> {
  const pending = Symbol('pending');
  return (await Promise.race([promise, new Promise((r) => setImmediate(r, pending))])) !== pending;
}

describe.skipIf(phpCgi === undefined)('the lifeline of a command worker (php-cgi)', () => {
  it('every process of the group holds it, children included', async () => {
    const group = await phpCgiGroup(2);
    const members = liveGroupMembers(group.pid);
    expect(members).toHaveLength(3);
    const leaders = fd3(group.pid);
    expect(leaders).toMatch(/^socket:\[\d+\]$/);
    for (const pid of members) expect(fd3(pid)).toBe(leaders);
    expect(await settled(group.released)).toBe(false);
  });

  it('is released only when the last orphan of a crashed leader exits', async () => {
    const group = await phpCgiGroup(2);
    process.kill(group.pid, 'SIGKILL');
    await group.exited;
    const orphans = liveGroupMembers(group.pid);
    expect(orphans).toHaveLength(2);
    process.kill(orphans[0] as number, 'SIGKILL');
    await waitFor(() => liveGroupMembers(group.pid).length === 1, {
      timeoutMs: 5_000,
      what: 'the first orphan to exit',
    });
    expect(await settled(group.released)).toBe(false);
    process.kill(orphans[1] as number, 'SIGKILL');
    await group.released;
    expect(liveGroupMembers(group.pid, true)).toEqual([]);
  });

  it("a stop of a crashed leader's orphans ends with them, not at the step's timeout", async () => {
    const group = await phpCgiGroup(2);
    process.kill(group.pid, 'SIGKILL');
    await group.exited;
    const started = Date.now();
    const outcome = await stopGroups(
      [group],
      [
        { signal: 'SIGTERM', to: 'leader' },
        { signal: 'SIGKILL', to: 'group' },
      ],
      20_000,
    );
    expect(outcome).toEqual({ forced: false, stragglers: [] });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(liveGroupMembers(group.pid)).toEqual([]);
  });
});

describe.skipIf(phpFpm === undefined)('the lifeline of a php-fpm worker', () => {
  it('the master and every child hold it, the children after they switched user', async () => {
    const temp = makeTempDir('lifeline-fpm');
    cleanups.push(temp.remove);
    const asRoot = process.getuid?.() === 0;
    const launcher = new PhpFpmLauncher({
      replicas: {
        kind: 'php-fpm',
        count: 1,
        capacity: 2,
        idleTimeoutMs: 30_000,
        connectTimeoutMs: 2_000,
        surge: false,
        surgeMarginBytes: 0,
        phpFpm: {
          binary: phpFpm as string,
          pool: null,
          user: 'nobody',
          group: asRoot ? execFileSync('id', ['-gn', 'nobody']).toString().trim() : 'nogroup',
          allowRootWorkers: false,
        },
      },
      health: { path: '/fpm-ping', expect: 'pong' },
      drainTimeoutMs: 2_000,
      runtimeDir: temp.path,
      logger,
    });
    const worker: Worker = await launcher.launch({
      name: 'replica-1',
      incarnation: 1,
      release: r1,
      capacity: 2,
    });
    cleanups.push(async () => {
      await worker.stop(0);
    });
    const master = worker.pids[0] as number;
    await waitFor(() => liveGroupMembers(master).length === 4, {
      timeoutMs: 5_000,
      what: 'the master and its capacity + 1 children',
    });
    const masters = fd3(master);
    expect(masters).toMatch(/^socket:\[\d+\]$/);
    for (const pid of liveGroupMembers(master)) expect(fd3(pid)).toBe(masters);
  });
});
