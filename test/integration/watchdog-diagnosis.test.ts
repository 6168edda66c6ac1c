import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PhpFpmReplicasConfig } from '../../src/config/config-types.js';
import { SessionHasher } from '../../src/sessions/session-hasher.js';
import { PhpFpmLauncher } from '../../src/supervisor/workers/php-fpm-launcher.js';
import type { Worker } from '../../src/supervisor/workers/worker.js';
import { FpmStatusError, readFpmStatus } from '../../src/watchdog/fpm-status.js';
import {
  type DiagnosisEntry,
  diagnoseStuck,
  type StuckRequest,
} from '../../src/watchdog/stuck-diagnosis.js';
import { fcgiExchange, phpParams } from '../support/fcgi-exchange.js';
import { repoRoot } from '../support/repo-root.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const r1 = realpathSync(join(repoRoot, 'fixtures/php/releases/r1'));
const asRoot = process.getuid?.() === 0;
const nobodyGroup = asRoot ? execFileSync('id', ['-gn', 'nobody']).toString().trim() : 'nogroup';
const HEALTH = { path: '/fpm-ping', expect: 'pong' };
/** A PHP session id: what only the client and the session file's name hold. */
const SESSION_ID = 'diagnosis0session0id0123';

interface Logged {
  readonly level: number;
  readonly msg: string;
  readonly replica?: string;
  readonly code?: string;
  readonly script?: string;
  readonly trace?: string;
  readonly workerPid?: number;
}

function replicas(pool: string): PhpFpmReplicasConfig {
  return {
    kind: 'php-fpm',
    count: 2,
    capacity: 3,
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

function socketOf(worker: Worker) {
  if (worker.address.kind !== 'unix') throw new Error('expected a unix socket');
  return worker.address.path;
}

describe.skipIf(phpFpm === undefined)('stuck-worker diagnosis with a real php-fpm', () => {
  let temp: ReturnType<typeof makeTempDir>;
  let workers: Worker[];
  let pool: string;
  let logged: Logged[];

  async function launch(options: { capacity?: number; slowlogMs?: number | null } = {}) {
    const logger = pino(
      { level: 'info', base: null, timestamp: false },
      { write: (line: string) => logged.push(JSON.parse(line) as Logged) },
    );
    const launcher = new PhpFpmLauncher({
      replicas: replicas(pool),
      health: HEALTH,
      drainTimeoutMs: 2_000,
      runtimeDir: join(temp.path, 'run'),
      logger,
      slowlogMs: options.slowlogMs ?? null,
    });
    const worker = await launcher.launch({
      name: 'replica-1',
      incarnation: 1,
      release: r1,
      capacity: options.capacity ?? 3,
    });
    workers.push(worker);
    // launch() resolves once the socket file exists, which php-fpm binds a moment before it
    // listens (the supervisor health-checks before routing): wait for the ping as it does.
    await waitFor(
      async () =>
        (await fcgiExchange(socketOf(worker), { params: phpParams(r1, '/fpm-ping') })).status ===
        200,
      { timeoutMs: 5_000, what: 'php-fpm to answer its ping' },
    );
    return worker;
  }

  /** A request as the web server would send it; settles with its status or why it was cut. */
  function request(worker: Worker, uri: string, session: string | null = null) {
    const extra: Record<string, string> =
      session === null ? {} : { HTTP_COOKIE: `PHPSESSID=${session}` };
    return fcgiExchange(socketOf(worker), { params: phpParams(r1, uri, extra) }).then(
      (response) => response.status,
      (error: Error) => `cut: ${error.message}`,
    );
  }

  function stuck(uri: string, session: string | null, elapsedMs: number): StuckRequest {
    const script = `${r1}${uri.split('?', 1)[0]}`;
    return { script, uri, elapsedMs, session, startedAt: Date.now() - elapsedMs };
  }

  beforeEach(() => {
    temp = makeTempDir('diag');
    workers = [];
    logged = [];
    // Sessions where the test can see them, writable by php-fpm's unprivileged children.
    const sessions = join(temp.path, 'sessions');
    mkdirSync(sessions);
    chmodSync(sessions, 0o1777);
    chmodSync(temp.path, 0o755);
    pool = join(temp.path, 'pool.conf');
    writeFileSync(pool, `php_admin_value[session.save_path] = "${sessions}"\n`);
  });

  afterEach(async () => {
    await Promise.all(workers.map((worker) => worker.stop(1_000)));
    temp.remove();
  });

  it('names the PHP session lock a blocked child waits on by its hash, and a sleeping one by its syscall', async () => {
    const worker = await launch();
    const hasher = new SessionHasher();
    const hash = hasher.tag(SESSION_ID).hash;
    const holder = request(worker, '/session.php?hold=6000', SESSION_ID);
    const sleeper = request(worker, '/sleep.php?ms=6000');
    const where = {
      kind: 'php-fpm' as const,
      address: worker.address,
      statusPath: worker.statusPath as string,
    };
    // The holder has the lock once php-fpm shows it running for a moment.
    await waitFor(
      async () => {
        const status = await readFpmStatus(worker.address, worker.statusPath as string, {
          timeoutMs: 2_000,
        });
        if (
          status.processes.some(
            (child) => child.requestUri.startsWith('/session.php') && child.requestDurationMs > 200,
          )
        ) {
          return true;
        }
        throw new Error(JSON.stringify(status.processes));
      },
      { timeoutMs: 5_000, what: 'the session holder to run' },
    );
    const blocked = request(worker, '/session.php?hold=10', SESSION_ID);

    const requests = [
      stuck('/session.php?hold=10', hash, 300),
      stuck('/sleep.php?ms=6000', null, 1_000),
      stuck('/session.php?hold=6000', hash, 1_000),
    ];
    const entries = await waitFor(
      async () => {
        const found = await diagnoseStuck({
          replica: 'replica-1',
          processes: where,
          stuck: requests,
          sessionHasher: hasher,
          statusTimeoutMs: 2_000,
        });
        return found[0]?.blockedOn.startsWith('waiting on PHP session lock') ? found : null;
      },
      { timeoutMs: 5_000, what: 'the second request of the session to wait on its lock' },
    );
    const [waiter, sleeping, holding] = entries as [DiagnosisEntry, DiagnosisEntry, DiagnosisEntry];
    expect(holding.pid).not.toBeNull();
    expect(waiter).toEqual<DiagnosisEntry>({
      replica: 'replica-1',
      pid: expect.any(Number) as unknown as number,
      script: `${r1}/session.php`,
      uri: '/session.php?hold=10',
      elapsedMs: 300,
      session: hash,
      blockedOn: `waiting on PHP session lock ${hash} (held by pid ${holding.pid})`,
    });
    expect(new Set([waiter.pid, sleeping.pid, holding.pid]).size).toBe(3);
    expect(JSON.stringify(entries)).not.toContain(SESSION_ID);
    // usleep() is nanosleep(2) in PHP 8.2's libc (clock_nanosleep on newer glibc).
    expect(sleeping.blockedOn).toMatch(/^in (clock_)?nanosleep\b/);
    expect(holding.blockedOn).toMatch(/^in (clock_)?nanosleep\b/);

    // The session file removed while its lock is held (session_regenerate_id(true), GC): the
    // open file reads back as "… (deleted)", still named by the hash only.
    rmSync(join(temp.path, 'sessions', `sess_${SESSION_ID}`));
    const afterRemoval = await diagnoseStuck({
      replica: 'replica-1',
      processes: where,
      stuck: requests.slice(0, 1),
      sessionHasher: hasher,
      statusTimeoutMs: 2_000,
    });
    expect(afterRemoval[0]?.blockedOn).toBe(
      `waiting on PHP session lock ${hash} (held by pid ${holding.pid})`,
    );

    expect(await Promise.all([holder, sleeper, blocked])).toEqual([200, 200, 200]);
  });

  it('gives up on the status page at its timeout when every child is busy', async () => {
    const worker = await launch({ capacity: 1 });
    // capacity 1 runs two children: two slow requests leave none for the status page.
    const slow = [request(worker, '/sleep.php?ms=3000'), request(worker, '/sleep.php?ms=3000')];
    await waitFor(
      async () => {
        try {
          await readFpmStatus(worker.address, worker.statusPath as string, { timeoutMs: 300 });
          return false;
        } catch (error) {
          return error instanceof FpmStatusError && error.code === 'ERR_FPM_STATUS_UNREACHABLE';
        }
      },
      { timeoutMs: 5_000, what: 'the status page to be out of reach' },
    );
    const started = Date.now();
    const entries = await diagnoseStuck({
      replica: 'replica-1',
      processes: {
        kind: 'php-fpm',
        address: worker.address,
        statusPath: worker.statusPath as string,
      },
      stuck: [stuck('/sleep.php?ms=3000', null, 1_000)],
      sessionHasher: null,
      statusTimeoutMs: 300,
    });
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(entries[0]?.pid).toBeNull();
    expect(entries[0]?.blockedOn).toMatch(/^unknown: status page unavailable: .*within 300 ms/);
    expect(await Promise.all(slow)).toEqual([200, 200]);
  });

  it('forwards the slow log entry of a request past [watchdog] slowlog, naming the replica', async () => {
    const worker = await launch({ slowlogMs: 1_000 });
    const slow = request(worker, '/sleep.php?ms=2500');
    const entry = await waitFor(() => logged.find((line) => line.code === 'SLOW_REQUEST'), {
      timeoutMs: 10_000,
      what: 'the slow log entry in the log',
    });
    expect(entry).toMatchObject({ level: 40, replica: 'replica-1', script: `${r1}/sleep.php` });
    expect(entry.trace).toMatch(/usleep\(\) .*sleep\.php:\d+/);
    expect(entry.workerPid).toEqual(expect.any(Number));
    // php-fpm's own line about it comes through its stderr, with the replica's name too.
    const tooSlow = await waitFor(
      () => logged.find((line) => line.msg.includes('executing too slow')),
      { timeoutMs: 5_000, what: 'php-fpm to log "executing too slow"' },
    );
    expect(tooSlow).toMatchObject({ level: 40, replica: 'replica-1' });
    expect(await slow).toBe(200);
  });

  it('sets no slow log unless asked', async () => {
    const worker = await launch();
    expect(await request(worker, '/sleep.php?ms=1200')).toBe(200);
    expect(logged.filter((line) => line.code === 'SLOW_REQUEST')).toEqual([]);
    expect(logged.filter((line) => line.msg.includes('executing too slow'))).toEqual([]);
  });
});
