import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ListenAddress } from '../../src/config/address.js';
import type { ReplicaStatus } from '../../src/control/messages.js';
import { readFpmStatus } from '../../src/watchdog/fpm-status.js';
import { failures, startDeployLoad } from '../support/deploy-load.js';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { runHttpLoad } from '../support/http-load.js';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import { type RunningNginx, startNginx } from '../support/nginx.js';
import { RELEASE_HEADER, startPhpFpmDaemon } from '../support/php-fpm-daemon.js';
import { survivors } from '../support/process-tree.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { waitFor } from '../support/wait-for.js';

// Stuck PHP behind nginx → switchyard → two php-fpm replicas it runs: a slot stays taken
// until its worker is free, and a replica whose routed workers all hang is replaced while
// the rest of the site answers.

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const nginx = requireSystemTool(SystemTool.nginx);
const flock = requireSystemTool(SystemTool.flock);

let daemon: ManagedDaemon | null = null;
let front: RunningNginx | null = null;
let holder: ChildProcess | null = null;

/** Lets go of the session's lock: the holder's whole process group. */
function releaseLock(): void {
  if (holder?.pid !== undefined && holder.exitCode === null) process.kill(-holder.pid, 'SIGKILL');
  holder = null;
}

afterEach(async () => {
  releaseLock();
  await front?.stop();
  front = null;
  await daemon?.cleanup();
  daemon = null;
});

async function startStack(
  label: string,
  options: { capacity: number; extra: readonly string[]; pool?: string; drainTimeout?: string },
): Promise<{ daemon: ManagedDaemon; url: string }> {
  const started = await startPhpFpmDaemon({
    label,
    phpFpm: phpFpm as string,
    capacity: options.capacity,
    warmup: ['/index.php'],
    deployLimits: ['timeout = "60s"'],
    extra: options.extra,
    ...(options.pool === undefined ? {} : { pool: options.pool }),
    ...(options.drainTimeout === undefined ? {} : { drainTimeout: options.drainTimeout }),
  });
  daemon = started;
  front = await startNginx({
    binary: nginx as string,
    dir: started.dir,
    fastcgiPass: `unix:${started.fastcgiSocket}`,
    documentRoot: started.symlink,
  });
  return { daemon: started, url: front.url };
}

/**
 * A replica's php-fpm (its current incarnation) as switchyard generated it: its socket in the
 * runtime directory, and the unguessable status path its config names.
 */
function replicaFpm(dir: string, name: string): { address: ListenAddress; statusPath: string } {
  const run = join(dir, 'run');
  const configs = readdirSync(run)
    .filter((file) => file.startsWith(`${name}.`) && file.endsWith('.conf'))
    .sort((a, b) => Number(a.split('.')[1]) - Number(b.split('.')[1]));
  const latest = configs.at(-1);
  if (latest === undefined) throw new Error(`no config of ${name} in ${run}`);
  const config = readFileSync(join(run, latest), 'utf8');
  const statusPath = /^pm\.status_path = "(.*)"$/m.exec(config)?.[1];
  if (statusPath === undefined) throw new Error(`no pm.status_path in ${latest}`);
  return {
    address: { kind: 'unix', path: join(run, latest.replace(/\.conf$/, '.sock')) },
    statusPath,
  };
}

/** The replica's php-fpm status page, asked directly (switchyard's own way). */
function fpmStatus(dir: string, name: string) {
  const { address, statusPath } = replicaFpm(dir, name);
  return readFpmStatus(address, statusPath, { timeoutMs: 2_000 });
}

async function get(url: string, path: string, cookie?: string) {
  const result = await runHttpLoad({
    url,
    requests: 1,
    concurrency: 1,
    pathFor: () => path,
    ...(cookie === undefined ? {} : { headersFor: () => ({ cookie }) }),
    timeoutMs: 30_000,
  });
  const [response] = result.responses;
  if (response === undefined) throw new Error('no response');
  return response;
}

const byName = (replicas: readonly ReplicaStatus[], name: string): ReplicaStatus | undefined =>
  replicas.find((replica) => replica.name === name);

describe('watchdog through nginx', () => {
  it('a timed-out request keeps its slot until the script ends: nothing waits in the backlog meanwhile', async () => {
    const { daemon, url } = await startStack('wd-abandon', {
      capacity: 1,
      extra: ['[limits]', 'request_timeout = "1s"'],
    });
    const timedOut = await get(url, '/where.php?ms=5000');
    expect(timedOut.status).toBe(504);
    const abandoned = await waitFor(
      async () =>
        (await daemon.status()).replicas.find((replica) => (replica.abandoned ?? 0) === 1) ?? null,
      { timeoutMs: 3_000, what: 'status to show the abandoned slot' },
    );
    // While the script runs on: every fast page goes to the other replica, at once, and
    // nothing queues in the busy replica's backlog.
    for (let i = 0; i < 6; i += 1) {
      const started = Date.now();
      const fast = await get(url, '/where.php');
      expect(fast.status).toBe(200);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(JSON.parse(fast.body.toString()).replica).not.toBe(abandoned.name);
      const fpm = await fpmStatus(daemon.dir, abandoned.name);
      expect(fpm.listenQueue).toBe(0);
    }
    expect(byName((await daemon.status()).replicas, abandoned.name)?.abandoned).toBe(1);
    await waitFor(
      async () => byName((await daemon.status()).replicas, abandoned.name)?.abandoned === 0,
      { timeoutMs: 10_000, what: 'the slot free once the script ended' },
    );
    const after = byName((await daemon.status()).replicas, abandoned.name);
    expect(after).toMatchObject({ state: 'ready', stuck: 0, inFlight: 0 });
  }, 60_000);

  it('replaces a replica whose routed workers all wait on one PHP session lock, while a fast page answers throughout', async () => {
    const sessionId = randomBytes(16).toString('hex');
    const cookie = `PHPSESSID=${sessionId}`;
    // The session's file, locked from outside PHP: every request of the session blocks in
    // session_start(), as behind a request that never ends.
    const setUp = join(`/tmp`, `switchyard-wd-${randomBytes(4).toString('hex')}`);
    mkdirSync(setUp, { recursive: true });
    chmodSync(setUp, 0o777);
    const sessionFile = join(setUp, `sess_${sessionId}`);
    writeFileSync(sessionFile, '');
    chmodSync(sessionFile, 0o666);
    const pool = join(setUp, 'pool.conf');
    writeFileSync(pool, `php_admin_value[session.save_path] = ${setUp}\n`);
    // Its own process group: the whole holder (flock and its sleep) goes at once.
    holder = spawn(flock as string, [sessionFile, 'sleep', '600'], {
      stdio: 'ignore',
      detached: true,
    });

    const { daemon, url } = await startStack('wd-stuck', {
      capacity: 2,
      pool,
      drainTimeout: '2s',
      extra: [
        '[sessions]',
        'per_session = 0',
        'affinity = "session"',
        'affinity_load = 2',
        '[limits]',
        'request_timeout = "30s"',
        '[watchdog]',
        'stuck_after = "3s"',
      ],
    });
    const before = await daemon.status();
    // Both requests of the session go to its replica (affinity, load bound 2) and block.
    const blocked = [
      get(url, '/session.php?hold=0', cookie),
      get(url, '/session.php?hold=0', cookie),
    ];
    const stuck = await waitFor(
      async () =>
        (await daemon.status()).replicas.find((replica) => replica.inFlight === 2) ?? null,
      { timeoutMs: 5_000, what: 'both session requests on one replica' },
    );
    const load = startDeployLoad({
      url,
      releaseHeader: RELEASE_HEADER,
      concurrency: 2,
      pathFor: () => '/hello.php',
    });
    const oldPids = new Set(before.replicas.find((r) => r.name === stuck.name)?.pids ?? []);
    const fpm = await fpmStatus(daemon.dir, stuck.name);
    const children = fpm.processes.map((child) => child.pid);

    // Within stuck_after and a few seconds: diagnosed, then replaced.
    const line = await waitFor(
      () =>
        daemon.switchyard
          .stdout()
          .split('\n')
          .find((entry) => entry.includes('request stuck') && entry.includes(stuck.name)) ?? null,
      { timeoutMs: 15_000, what: 'the stuck request logged' },
    );
    expect(line).toContain('/session.php');
    expect(line).toContain('session lock');
    expect(line).not.toContain(sessionId);
    const diagnosed = byName((await daemon.status()).replicas, stuck.name)?.stuckRequests ?? [];
    expect(diagnosed.length).toBeGreaterThan(0);
    expect(diagnosed[0]?.blockedOn).toContain('session lock');
    // Named by the hash its requests show (one hasher for the lanes and the watchdog).
    expect(diagnosed[0]?.session).toMatch(/^[0-9a-f]{12}$/);
    expect(diagnosed[0]?.blockedOn).toContain(`session lock ${diagnosed[0]?.session}`);
    expect(JSON.stringify(await daemon.status())).not.toContain(sessionId);

    await waitFor(
      async () => {
        const now = await daemon.status();
        const replaced = byName(now.replicas, stuck.name);
        return (
          replaced?.state === 'ready' &&
          !replaced.pids.some((pid) => oldPids.has(pid)) &&
          now.replicas.length === 2
        );
      },
      { timeoutMs: 30_000, what: 'the stuck replica replaced, and the spare gone' },
    );
    const responses = await load.stop();
    expect(failures(responses)).toEqual([]);
    expect(responses.flat().length).toBeGreaterThan(10);
    // Nothing of the old replica is left: its master and every child.
    expect(survivors([...oldPids, ...children])).toEqual([]);
    // The blocked requests' workers were stopped: their clients got an answer, not a retry
    // onto another replica to hang there (the lock is still held).
    const answers = await Promise.race([
      Promise.all(blocked),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 10_000)),
    ]);
    expect(answers?.map((answer) => answer.status)).toEqual([502, 502]);
    releaseLock();
  }, 90_000);

  it('a replica stuck again soon after its replacement backs off instead of looping', async () => {
    const { daemon, url } = await startStack('wd-again', {
      capacity: 1,
      drainTimeout: '1s',
      extra: [
        '[sessions]',
        'per_session = 0',
        'affinity = "session"',
        'affinity_load = 2',
        '[limits]',
        'request_timeout = "1s"',
        '[watchdog]',
        'stuck_after = "2s"',
      ],
    });
    // One session, so its requests go to one slot whatever its incarnation: each hangs its
    // only routed worker (the client gives up after 1 s; the script runs on).
    const cookie = `PHPSESSID=${randomBytes(16).toString('hex')}`;
    const hang = async () =>
      expect((await get(url, '/where.php?ms=600000', cookie)).status).toBe(504);
    await hang();
    const slot = await waitFor(
      async () =>
        (await daemon.status()).replicas.find(
          (replica) => (replica.abandoned ?? 0) + (replica.stuck ?? 0) > 0,
        ) ?? null,
      { timeoutMs: 3_000, what: 'the hung slot' },
    );
    const lines = () =>
      daemon.switchyard
        .stdout()
        .split('\n')
        .filter((line) => line !== '');
    const logged = (pattern: RegExp) => lines().filter((line) => pattern.test(line));
    await waitFor(
      async () => {
        const replica = byName((await daemon.status()).replicas, slot.name);
        return replica?.state === 'ready' && replica.pid !== slot.pid;
      },
      { timeoutMs: 30_000, what: 'the first replacement' },
    );
    expect(logged(/replica stuck \(/)).toHaveLength(1);

    await hang();
    const again = await waitFor(() => logged(/stuck again/)[0] ?? null, {
      timeoutMs: 15_000,
      what: 'the stuck-again line',
    });
    const { time: againAt, delayMs } = JSON.parse(again) as { time: number; delayMs: number };
    expect(delayMs).toBeGreaterThanOrEqual(5_000);
    // The next replacement starts only once the back-off has run out: the spare's start.
    const spareStart = await waitFor(
      () =>
        logged(/"msg":"starting on/).find(
          (line) => (JSON.parse(line) as { time: number }).time > againAt,
        ) ?? null,
      { timeoutMs: 30_000, what: 'the replacement after the back-off' },
    );
    expect((JSON.parse(spareStart) as { time: number }).time - againAt).toBeGreaterThanOrEqual(
      delayMs - 250,
    );
  }, 90_000);

  it('a php-fpm child killed mid-request is still retried elsewhere, not held as abandoned', async () => {
    const { daemon, url } = await startStack('wd-kill', { capacity: 2, extra: [] });
    const pending = get(url, '/where.php?ms=3000');
    const running = await waitFor(
      async () =>
        (await daemon.status()).replicas.find((replica) => replica.inFlight === 1) ?? null,
      { timeoutMs: 5_000, what: 'the request on a replica' },
    );
    const fpm = await fpmStatus(daemon.dir, running.name);
    const child = fpm.processes.find((entry) => entry.requestUri.startsWith('/where.php'));
    expect(child?.state).toBe('Running');
    process.kill(child?.pid as number, 'SIGKILL');
    const answer = await pending;
    expect(answer.status).toBe(200);
    const body = JSON.parse(answer.body.toString()) as { pid: number; held: number };
    expect(body.pid).not.toBe(child?.pid);
    expect(body.held).toBeGreaterThanOrEqual(3_000);
    const after = byName((await daemon.status()).replicas, running.name);
    expect(after).toMatchObject({ abandoned: 0, stuck: 0, inFlight: 0 });
  }, 60_000);

  it("does not hand php-fpm's status page to a client that names its old well-known path", async () => {
    const { daemon } = await startStack('wd-leak', { capacity: 1, extra: [] });
    // What a front-controller config sends for GET /fpm-status: the client's path as
    // SCRIPT_NAME, index.php as the file. php-fpm answers its status page by SCRIPT_NAME.
    const response = await fcgiExchange(daemon.fastcgiSocket, {
      params: phpParams(daemon.symlink, '/fpm-status?json&full', {
        SCRIPT_NAME: '/fpm-status',
        SCRIPT_FILENAME: `${daemon.symlink}/index.php`,
      }),
    });
    expect(response.status).toBe(200);
    const body = response.body.toString();
    expect(body).not.toContain('accepted conn');
    expect(body).not.toContain('request uri');
    // The real one is there, for switchyard only.
    const fpm = await fpmStatus(daemon.dir, 'replica-1');
    expect(fpm.processes.length).toBe(2);
  }, 60_000);
});
