import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { HealthConfig, PhpFpmReplicasConfig } from '../../src/config/config-types.js';
import { silentLogger } from '../../src/log.js';
import { PhpFpmLauncher } from '../../src/supervisor/workers/php-fpm-launcher.js';
import { liveGroupMembers, sendSignal } from '../../src/supervisor/workers/process-stop.js';
import type { Worker, WorkerSpec } from '../../src/supervisor/workers/worker.js';
import { isWorkerError, type WorkerError } from '../../src/supervisor/workers/worker-error.js';
import { canConnect } from '../support/demo-app.js';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { repoRoot } from '../support/repo-root.js';
import { switchyardCommand } from '../support/switchyard-process.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const r1 = realpathSync(join(repoRoot, 'fixtures/php/releases/r1'));
const r2 = realpathSync(join(repoRoot, 'fixtures/php/releases/r2'));
const asRoot = process.getuid?.() === 0;
/** As root, php-fpm's children run as nobody (php-fpm refuses root children without -R). */
const nobodyGroup = asRoot ? execFileSync('id', ['-gn', 'nobody']).toString().trim() : 'nogroup';
/** Quoting on trial: php-fpm must answer the ping with exactly this. */
const EXPECT = `ok; "fine" ${['$', '{HOME}'].join('')} \\ yes`;
const HEALTH: Pick<HealthConfig, 'path' | 'expect'> = { path: '/fpm-ping', expect: EXPECT };

function replicas(pool: string | null = null): PhpFpmReplicasConfig {
  return {
    kind: 'php-fpm',
    count: 2,
    capacity: 2,
    idleTimeoutMs: 30_000,
    connectTimeoutMs: 2_000,
    surge: false,
    surgeMarginBytes: 0,
    phpFpm: {
      binary: phpFpm as string,
      pool,
      user: 'nobody',
      group: nobodyGroup,
      allowRootWorkers: false,
    },
  };
}

function spec(overrides: Partial<WorkerSpec> = {}): WorkerSpec {
  return { name: 'replica-1', incarnation: 1, release: r1, capacity: 2, ...overrides };
}

function socketOf(worker: Worker): string {
  if (worker.address.kind !== 'unix') throw new Error('expected a unix socket');
  return worker.address.path;
}

async function where(worker: Worker, release: string, ms = 0) {
  const response = await fcgiExchange(socketOf(worker), {
    params: phpParams(release, `/where.php?ms=${ms}`),
  });
  expect(response.status).toBe(200);
  return JSON.parse(response.body.toString()) as {
    release: string;
    dir: string;
    cwd: string;
    env: string;
    held: number;
    pid: number;
  };
}

/** Busy children per php-fpm's status page (the status request itself counts as one). */
async function activeChildren(worker: Worker, release: string): Promise<number> {
  const response = await fcgiExchange(socketOf(worker), {
    params: phpParams(release, `${worker.statusPath}?json`),
  });
  return JSON.parse(response.body.toString())['active processes'] as number;
}

/** Until a slow request sent to `worker` runs: it and the status request are 2 active children. */
async function untilSlowRequestRuns(worker: Worker): Promise<void> {
  await waitFor(async () => (await activeChildren(worker, r1)) >= 2, {
    timeoutMs: 5_000,
    what: 'the slow request to be running',
  });
}

describe.skipIf(phpFpm === undefined)('PhpFpmLauncher with the real php-fpm', () => {
  let temp: ReturnType<typeof makeTempDir>;
  let workers: Worker[];

  function launcher(options: { pool?: string | null; drainTimeoutMs?: number } = {}) {
    const inner = new PhpFpmLauncher({
      replicas: replicas(options.pool ?? null),
      health: HEALTH,
      drainTimeoutMs: options.drainTimeoutMs ?? 5_000,
      runtimeDir: temp.path,
      logger: silentLogger(),
    });
    return {
      launch: async (workerSpec: WorkerSpec) => {
        const worker = await inner.launch(workerSpec);
        workers.push(worker);
        // launch() resolves once the socket exists; php-fpm may not listen on it yet (the
        // supervisor's start-up health checks retry): these tests talk to it at once.
        await waitFor(() => canConnect(socketOf(worker)), {
          timeoutMs: 5_000,
          what: 'php-fpm to listen',
        });
        return worker;
      },
    };
  }

  /** The master and its capacity + 1 children, once php-fpm has forked them all. */
  async function untilAllChildren(worker: Worker, capacity: number): Promise<void> {
    const master = worker.pids[0] as number;
    await waitFor(() => liveGroupMembers(master).length === capacity + 2, {
      timeoutMs: 5_000,
      what: `php-fpm ${master} to fork ${capacity + 1} children`,
    });
  }

  beforeEach(() => {
    temp = makeTempDir('fpmw');
    workers = [];
  });

  afterEach(async () => {
    // Stops whatever a failed test left running; stop() also reaps orphaned children.
    await Promise.all(workers.map((worker) => worker.stop(1_000)));
    temp.remove();
  });

  it('launches a master that answers the ping and serves its pinned release', async () => {
    const fpm = launcher();
    const started = Date.now();
    const first = await fpm.launch(spec());
    const second = await fpm.launch(spec({ name: 'replica-2', incarnation: 4, release: r2 }));
    const launchMs = Date.now() - started;

    expect(first.address).toEqual({ kind: 'unix', path: join(temp.path, 'replica-1.1.sock') });
    expect(second.address).toEqual({ kind: 'unix', path: join(temp.path, 'replica-2.4.sock') });
    const ping = await fcgiExchange(socketOf(first), { params: phpParams(r1, '/fpm-ping') });
    expect(ping.status).toBe(200);
    expect(ping.body.toString()).toBe(EXPECT);

    expect(await where(first, r1)).toMatchObject({ release: 'r1', dir: r1, cwd: r1, env: r1 });
    expect(await where(second, r2)).toMatchObject({ release: 'r2', dir: r2, cwd: r2, env: r2 });

    // setpriv execs php-fpm in place: the pid switchyard holds is the master's own.
    await waitFor(() => first.outputTail().includes('ready to handle connections'), {
      timeoutMs: 5_000,
      what: 'php-fpm to log that it is ready',
    });
    expect(first.outputTail()).toContain(`fpm is running, pid ${first.pids[0]}`);
    await untilAllChildren(first, 2);
    expect(launchMs).toBeLessThan(5_000);
  });

  it('accepts the shipped pool template (deploy/php-fpm/pool.conf)', async () => {
    const fpm = launcher({ pool: join(repoRoot, 'deploy/php-fpm/pool.conf') });
    const worker = await fpm.launch(spec());
    const ping = await fcgiExchange(socketOf(worker), { params: phpParams(r1, '/fpm-ping') });
    expect(ping.body.toString()).toBe(EXPECT);
    expect(await where(worker, r1)).toMatchObject({ release: 'r1', dir: r1 });
  });

  it('stop() lets an in-flight request finish, then nothing of the group remains', async () => {
    const worker = await launcher().launch(spec());
    const master = worker.pids[0] as number;
    await untilAllChildren(worker, 2);
    const slow = where(worker, r1, 1_000);
    await untilSlowRequestRuns(worker);

    const stopping = Date.now();
    const result = await worker.stop(5_000);
    const stopMs = Date.now() - stopping;

    const page = await slow;
    expect(page.held).toBeGreaterThanOrEqual(1_000);
    expect(result).toEqual({ forced: false });
    expect(await worker.exited).toEqual({ pid: master, code: 0, signal: null });
    expect(liveGroupMembers(master)).toEqual([]);
    expect(existsSync(socketOf(worker))).toBe(false);
    expect(existsSync(join(temp.path, 'replica-1.1.conf'))).toBe(false);
    // The request had up to a second left; the stop waited for it, not much longer.
    expect(stopMs).toBeLessThan(3_000);
  });

  it('stop() escalates to SIGTERM when the request outlasts the grace, and says so', async () => {
    const worker = await launcher({ drainTimeoutMs: 30_000 }).launch(spec());
    const master = worker.pids[0] as number;
    await untilAllChildren(worker, 2);
    const slow = where(worker, r1, 20_000).then(
      () => 'answered',
      () => 'cut',
    );
    await untilSlowRequestRuns(worker);

    const stopping = Date.now();
    expect(await worker.stop(300)).toEqual({ forced: true });
    expect(Date.now() - stopping).toBeLessThan(3_000);
    expect(await slow).toBe('cut');
    expect(liveGroupMembers(master)).toEqual([]);
  });

  it('after a SIGKILL of the master, exited settles and the orphans finish their request and go', async () => {
    const drainTimeoutMs = 3_000;
    const worker = await launcher({ drainTimeoutMs }).launch(spec());
    const master = worker.pids[0] as number;
    await untilAllChildren(worker, 2);
    const slow = where(worker, r1, 800);
    await untilSlowRequestRuns(worker);

    const killed = Date.now();
    process.kill(master, 'SIGKILL');
    expect(await worker.exited).toEqual({ pid: master, code: null, signal: 'SIGKILL' });
    // Orphaned children still hold the socket: they finish what they started, then exit.
    expect((await slow).held).toBeGreaterThanOrEqual(800);
    await waitFor(() => liveGroupMembers(master).length === 0, {
      timeoutMs: drainTimeoutMs + 2_000,
      what: `the orphaned children of ${master} to exit`,
    });
    expect(Date.now() - killed).toBeLessThan(drainTimeoutMs);
    expect(await worker.stop(1_000)).toEqual({ forced: false });
  });

  it('kills orphaned children whose request outlasts the drain timeout', async () => {
    const drainTimeoutMs = 500;
    const worker = await launcher({ drainTimeoutMs }).launch(spec());
    const master = worker.pids[0] as number;
    await untilAllChildren(worker, 2);
    const slow = where(worker, r1, 20_000).then(
      () => 'answered',
      () => 'cut',
    );
    await untilSlowRequestRuns(worker);

    process.kill(master, 'SIGKILL');
    await worker.exited;
    await waitFor(() => liveGroupMembers(master).length === 0, {
      timeoutMs: drainTimeoutMs + 3_000,
      what: `the orphaned children of ${master} to be killed`,
    });
    expect(await slow).toBe('cut');
  });

  for (const [directive, message] of [
    ['pm.max_children = -1', 'pm.max_children must be a positive value'],
    ['pm = bogus', 'invalid process manager'],
  ] as const) {
    it(`rejects launch with php-fpm's own error for a bad pool directive: ${directive}`, async () => {
      const pool = join(temp.path, 'pool.conf');
      writeFileSync(pool, `${directive}\n`);
      const error = await launcher({ pool })
        .launch(spec())
        .then(
          () => null,
          (caught: unknown) => caught,
        );
      expect(isWorkerError(error)).toBe(true);
      const workerError = error as WorkerError;
      expect(workerError.code).toBe('ERR_WORKER_EXITED');
      expect(workerError.message).toContain(message);
      expect(workerError.outputTail).toContain(message);
      expect(workerError.exit?.code).toBe(78);
      const pid = workerError.exit?.pid as number;
      expect(liveGroupMembers(pid)).toEqual([]);
      expect(existsSync(join(temp.path, 'replica-1.1.conf'))).toBe(false);
    });
  }

  it('leaves no php-fpm process behind when its parent is killed with SIGKILL', async () => {
    // A parent process of its own: it launches a worker, prints the master's pid, then waits.
    const options = JSON.stringify({
      replicas: replicas(),
      health: HEALTH,
      drainTimeoutMs: 5_000,
      runtimeDir: temp.path,
    });
    const script = [
      `const { PhpFpmLauncher } = await import(${JSON.stringify(join(repoRoot, 'src/supervisor/workers/php-fpm-launcher.ts'))});`,
      `const { silentLogger } = await import(${JSON.stringify(join(repoRoot, 'src/log.ts'))});`,
      `const launcher = new PhpFpmLauncher({ ...${options}, logger: silentLogger() });`,
      `const worker = await launcher.launch(${JSON.stringify(spec({ name: 'replica-9' }))});`,
      'process.stdout.write("master " + worker.pids[0] + "\\n");',
      'setInterval(() => {}, 60_000);',
    ].join('\n');
    const [node, ...prefix] = switchyardCommand.slice(0, -1) as [string, ...string[]];
    const parent: ChildProcess = spawn(node, [...prefix, '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    parent.stdout?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    parent.stderr?.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    const parentExited = new Promise((resolve) => parent.once('exit', resolve));
    let master: number | undefined;
    try {
      const line = await waitFor(() => /master (\d+)/.exec(output), {
        timeoutMs: 15_000,
        what: `the parent to launch php-fpm (output so far: ${output})`,
      });
      master = Number(line[1]);
      await waitFor(() => liveGroupMembers(master as number).length === 4, {
        timeoutMs: 5_000,
        what: 'php-fpm to fork its children',
      });

      const killed = Date.now();
      parent.kill('SIGKILL');
      await parentExited;
      await waitFor(() => liveGroupMembers(master as number).length === 0, {
        timeoutMs: 5_000,
        what: `php-fpm ${master} and its children to exit after their parent died`,
      });
      expect(Date.now() - killed).toBeLessThan(2_000);
    } finally {
      parent.kill('SIGKILL');
      if (master !== undefined) sendSignal(-master, 'SIGKILL');
    }
  });
});
