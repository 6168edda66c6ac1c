import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { backwardSteps, failures, startDeployLoad } from '../support/deploy-load.js';
import { type HttpLoadResponse, runHttpLoad, summarise } from '../support/http-load.js';
import type { ManagedDaemon } from '../support/managed-daemon.js';
import { type RunningNginx, startNginx } from '../support/nginx.js';
import { PHP_R1, PHP_R2, RELEASE_HEADER, startPhpFpmDaemon } from '../support/php-fpm-daemon.js';
import { stopAfterEach } from '../support/stop-after-each.js';
import { requireSystemTool, SystemTool } from '../support/system-tools.js';

// PHP's session lock, end to end: nginx → switchyard → two php-fpm replicas it runs, PHP
// pages that call session_start(). session.php holds the lock for ?hold= ms and reports when
// its script started and ended (by the host's clock) and the replica that ran it.

const phpFpm = requireSystemTool(SystemTool.phpFpm);
const nginx = requireSystemTool(SystemTool.nginx);

let daemon: ManagedDaemon | null = null;
let front: RunningNginx | null = null;

const keep = stopAfterEach();

/** The daemon with 2 php-fpm replicas of capacity 4 (8 routed workers), nginx in front. */
async function startStack(label: string, sessions: readonly string[]): Promise<string> {
  daemon = keep(
    await startPhpFpmDaemon({
      label,
      phpFpm: phpFpm as string,
      capacity: 4,
      warmup: ['/index.php'],
      deployLimits: ['timeout = "60s"'],
      extra: sessions,
    }),
  );
  front = keep(
    await startNginx({
      binary: nginx as string,
      dir: daemon.dir,
      fastcgiPass: `unix:${daemon.fastcgiSocket}`,
      documentRoot: daemon.symlink,
    }),
  );
  return front.url;
}

const newSession = (): string => `PHPSESSID=${randomBytes(16).toString('hex')}`;

interface SessionPage {
  readonly start: number;
  readonly end: number;
  readonly replica: string;
  readonly release: string;
}

const sessionPage = (response: HttpLoadResponse): SessionPage =>
  JSON.parse(response.body.toString()) as SessionPage;

/** Fetches `path` every `everyMs` until `until` settles or `forMs` pass; every response. */
async function pollWhile(
  url: string,
  path: string,
  everyMs: number,
  until: Promise<unknown>,
  forMs: number,
): Promise<HttpLoadResponse[]> {
  let done = false;
  void until.finally(() => {
    done = true;
  });
  const deadline = Date.now() + forMs;
  const responses: HttpLoadResponse[] = [];
  while (!done && Date.now() < deadline) {
    const tick = new Promise((resolve) => setTimeout(resolve, everyMs));
    const result = await runHttpLoad({
      url,
      requests: 1,
      concurrency: 1,
      pathFor: () => path,
      timeoutMs: 20_000,
    });
    responses.push(...result.responses);
    await tick;
  }
  return responses;
}

/**
 * 16 clients, every request holding one shared session for 200 ms, while /hello.php is
 * polled for as long as all 16 are busy: `requests - 16` requests of 200 ms, one at a time.
 */
async function globalSessionLoad(url: string, requests: number) {
  const cookie = newSession();
  const sessionLoad = runHttpLoad({
    url,
    requests,
    concurrency: 16,
    pathFor: () => '/session.php?hold=200',
    headersFor: () => ({ cookie }),
    timeoutMs: 60_000,
  });
  const polled = await pollWhile(url, '/hello.php', 100, sessionLoad, (requests - 16) * 200);
  const page = summarise({ responses: polled, durationMs: 1 });
  return { session: summarise(await sessionLoad), page, polled };
}

describe.skipIf(phpFpm === undefined || nginx === undefined)(
  'session lanes end to end: nginx → switchyard → php-fpm, PHP session locks',
  () => {
    it('runs one session’s three parallel requests one at a time, and other users fast', {
      timeout: 60_000,
    }, async () => {
      const url = await startStack('lanes-ajax', ['[sessions]']);
      const cookie = newSession();
      const session = runHttpLoad({
        url,
        requests: 3,
        concurrency: 3,
        pathFor: () => '/session.php?hold=1000',
        headersFor: () => ({ cookie }),
        timeoutMs: 30_000,
      });
      const others = runHttpLoad({
        url,
        requests: 20,
        concurrency: 20,
        pathFor: () => '/hello.php',
        // Half are other users with sessions of their own, half have none.
        headersFor: (i) => (i % 2 === 0 ? { cookie: newSession() } : undefined),
        timeoutMs: 30_000,
      });
      const [mine, theirs] = await Promise.all([session, others]);
      expect(summarise(mine).ok, JSON.stringify(summarise(mine).byStatus)).toBe(3);
      const latencies = mine.responses.map((response) => response.latencyMs).sort((a, b) => a - b);
      latencies.forEach((latency, k) => {
        expect(latency).toBeGreaterThanOrEqual((k + 1) * 1000 - 50);
        expect(latency).toBeLessThan((k + 1) * 1000 + 1_500);
      });
      // Only one in a worker at any moment: each script starts after the previous one ended.
      // Without lanes all three start at once and wait in session_start(), holding workers.
      const pages = mine.responses.map(sessionPage).sort((a, b) => a.start - b.start);
      for (let k = 1; k < pages.length; k += 1) {
        expect(pages[k]?.start).toBeGreaterThanOrEqual(pages[k - 1]?.end as number);
      }
      const summary = summarise(theirs);
      expect(summary.ok, JSON.stringify(summary.byStatus)).toBe(20);
      expect(summary.max).toBeLessThan(500);
    });

    it('keeps the site fast while every request of a 16-client load holds one session; without lanes it piles up', {
      timeout: 120_000,
    }, async () => {
      const lanesOn = await startStack('lanes-global-on', ['[sessions]']);
      const on = await globalSessionLoad(lanesOn, 50);
      expect(on.session.failed, JSON.stringify(on.session.byStatus)).toBe(0);
      expect(on.page.failed, JSON.stringify(on.page.byStatus)).toBe(0);
      expect(on.polled.length).toBeGreaterThan(30);
      expect(on.page.p99).toBeLessThan(300);
      const status = await (daemon as ManagedDaemon).status();
      expect(status.sessions).toMatchObject({ perSession: 1, lanes: 0, waiting: 0 });
      await front?.stop();
      front = null;
      await daemon?.cleanup();
      daemon = null;

      const lanesOff = await startStack('lanes-global-off', ['[sessions]', 'per_session = 0']);
      const off = await globalSessionLoad(lanesOff, 50);
      // The same load without lanes: 8 workers wait on one lock, the fast page queues behind.
      expect(off.page.p50).toBeGreaterThan(Math.max(500, 3 * on.page.p99));
    });

    it('answers a full lane 429 and a lane timeout 503 promptly, and nothing else is hurt', {
      timeout: 60_000,
    }, async () => {
      const url = await startStack('lanes-bounds', [
        '[sessions]',
        'lane_queue = 2',
        'lane_timeout = "1s"',
      ]);
      const cookie = newSession();
      const holder = runHttpLoad({
        url,
        requests: 1,
        concurrency: 1,
        pathFor: () => '/session.php?hold=3000',
        headersFor: () => ({ cookie }),
        timeoutMs: 30_000,
      });
      await (daemon as ManagedDaemon).status();
      const waitForLane = async (waiting: number) => {
        for (let i = 0; i < 100; i += 1) {
          const status = await (daemon as ManagedDaemon).status();
          if ((status.sessions?.lanes ?? 0) > 0 && (status.sessions?.waiting ?? -1) >= waiting)
            return;
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
        throw new Error(`the lane never held ${waiting} waiting requests`);
      };
      await waitForLane(0);
      const waiters = runHttpLoad({
        url,
        requests: 2,
        concurrency: 2,
        pathFor: () => '/session.php?hold=0',
        headersFor: () => ({ cookie }),
        timeoutMs: 30_000,
      });
      await waitForLane(2);
      const extra = await runHttpLoad({
        url,
        requests: 1,
        concurrency: 1,
        pathFor: () => '/session.php?hold=0',
        headersFor: () => ({ cookie }),
        timeoutMs: 30_000,
      });
      const [refused] = extra.responses;
      expect(refused?.status).toBe(429);
      expect(refused?.headers['retry-after']).toBe('1');
      expect(refused?.latencyMs).toBeLessThan(500);
      const fast = await runHttpLoad({
        url,
        requests: 10,
        concurrency: 5,
        pathFor: () => '/hello.php',
        headersFor: (i) => (i % 2 === 0 ? { cookie: newSession() } : undefined),
        timeoutMs: 30_000,
      });
      expect(summarise(fast).ok).toBe(10);
      const timedOut = await waiters;
      for (const response of timedOut.responses) {
        expect(response.status).toBe(503);
        expect(response.headers['retry-after']).toBe('1');
        expect(response.latencyMs).toBeGreaterThanOrEqual(900);
        expect(response.latencyMs).toBeLessThan(2_500);
      }
      expect(summarise(await holder).ok).toBe(1);
    });

    it('with affinity, keeps each of 50 sessions on one replica, spreads them, and moves them during a restart without a failure', {
      timeout: 90_000,
    }, async () => {
      // Two requests at a time over three replicas (the restart's surge spare beside the two)
      // is a mean load under one: the default bound (1.25 × mean) would send a session's
      // request elsewhere whenever its replica has one in flight. 2 × mean keeps the test about
      // where sessions live, not about the bound.
      const url = await startStack('lanes-affinity', [
        '[sessions]',
        'affinity = "session"',
        'affinity_load = 2',
      ]);
      const cookies = Array.from({ length: 50 }, newSession);
      // Two at a time: under the load bound, so no request is sent away from its replica.
      const pass = (requests: number) =>
        runHttpLoad({
          url,
          requests,
          concurrency: 2,
          pathFor: () => '/where.php',
          headersFor: (i) => ({ cookie: cookies[i % cookies.length] }),
          timeoutMs: 60_000,
        });
      const first = await pass(500);
      expect(summarise(first).ok).toBe(500);
      const home = new Map<string, Set<string>>();
      for (const response of first.responses) {
        const cookie = cookies[response.i % cookies.length] as string;
        const replicas = home.get(cookie) ?? new Set<string>();
        replicas.add(sessionPage(response).replica);
        home.set(cookie, replicas);
      }
      for (const replicas of home.values()) expect(replicas.size).toBe(1);
      const owners = [...home.values()].map((replicas) => [...replicas][0] as string);
      const onFirst = owners.filter((owner) => owner === 'replica-1').length;
      expect(onFirst).toBeGreaterThan(10);
      expect(onFirst).toBeLessThan(40);

      let restarted = false;
      const restart = (daemon as ManagedDaemon).cli(['restart', '--replica', '1']).finally(() => {
        restarted = true;
      });
      const during: HttpLoadResponse[] = [];
      while (!restarted) during.push(...(await pass(100)).responses);
      expect((await restart).code).toBe(0);
      expect(failures([during])).toEqual([]);
      // Moved to replica-2, or to the surge spare standing in for replica-1 (surge "auto").
      const moved = during.filter((response) => {
        const cookie = cookies[response.i % cookies.length] as string;
        return home.get(cookie)?.has('replica-1') && sessionPage(response).replica !== 'replica-1';
      });
      expect(moved.length).toBeGreaterThan(0);
      // A session of replica-2 never moved: only the restarted replica's sessions did.
      for (const response of during) {
        const cookie = cookies[response.i % cookies.length] as string;
        if (home.get(cookie)?.has('replica-2')) {
          expect(sessionPage(response).replica).toBe('replica-2');
        }
      }
      // Back: the new replica-1 gets its sessions again.
      const after = await pass(100);
      for (const response of after.responses) {
        const cookie = cookies[response.i % cookies.length] as string;
        expect(home.get(cookie)?.has(sessionPage(response).replica)).toBe(true);
      }
    });

    it('deploys under a session-heavy load with no failure and the cut-over rules unchanged', {
      timeout: 120_000,
    }, async () => {
      const url = await startStack('lanes-deploy', ['[sessions]', 'affinity = "session"']);
      const current = daemon as ManagedDaemon;
      const cookies = Array.from({ length: 6 }, newSession);
      const load = startDeployLoad({
        url,
        releaseHeader: RELEASE_HEADER,
        concurrency: 8,
        pathFor: (i) => (i % 3 === 0 ? '/session.php?hold=50' : '/where.php'),
        // Six sessions over eight clients: lanes hold some of them.
        headersFor: (i) => (i % 4 === 3 ? undefined : { cookie: cookies[i % cookies.length] }),
      });
      const outputs: string[] = [];
      for (let k = 1; k <= 2; k += 1) {
        const dir = current.addRelease(`d${k}`, k % 2 === 1 ? PHP_R2 : PHP_R1);
        const result = await current.cli(['deploy', dir]);
        outputs.push(result.stdout);
        expect(result.code, `deploy ${k}: ${result.stderr}${result.stdout}`).toBe(0);
      }
      const batches = await load.stop();
      expect(failures(batches)).toEqual([]);
      expect(batches.flat().length).toBeGreaterThan(100);
      expect(
        backwardSteps(batches, RELEASE_HEADER, (name) => Number(name.replace(/^d/, ''))),
      ).toEqual([]);
      const status = await current.status();
      expect(status.sessions).toMatchObject({ lanes: 0, waiting: 0 });
    });
  },
);
