import { failures } from '../test/support/deploy-load.js';
import type { HttpLoadResponse } from '../test/support/http-load.js';
import { startNginx } from '../test/support/nginx.js';
import { survivors } from '../test/support/process-tree.js';
import { daemonServing, servedMore, startSteadyLoad } from '../test/support/restart-load.js';
import { startSocketHolder } from '../test/support/socket-holder.js';
import { runSwitchyard, switchyardCommand } from '../test/support/switchyard-process.js';
import {
  killLeftovers,
  prepareSystemdSite,
  replicaPids,
  type SystemdSite,
  spawnDaemon,
  type WatchedProcess,
} from '../test/support/systemd-daemon.js';
import { makeTempDir } from '../test/support/temp-dir.js';
import { waitFor } from '../test/support/wait-for.js';
import { positiveKnob } from './env-knobs.js';
import { formatMs } from './format-ms.js';
import { formatLoad } from './load-average.js';
import { percentile } from './percentile.js';
import { phpStackPrograms } from './php-stack-programs.js';

/** How the daemon is replaced in a round. */
type Way = 'restart' | 'restart (socket unit)' | 'switchyard upgrade';
const WAYS: readonly Way[] = ['restart', 'restart (socket unit)', 'switchyard upgrade'];

interface RoundResult {
  readonly way: Way;
  readonly requests: number;
  readonly failed: number;
  /** The longest any request took (a failed one included), and the 99th percentile. */
  readonly longestMs: number;
  readonly p99Ms: number;
  /** From the first failed request's start to the last one's: the outage. */
  readonly outageMs: number;
  readonly firstFailure: string | null;
}

/** Replaces the running daemon one way; returns the new daemon's pid. */
interface Replacer {
  readonly way: Way;
  readonly pid: () => number;
  replace(): Promise<number>;
  close(): Promise<void>;
}

/**
 * The daemon replaced under a steady load through nginx (8 connections, /index.php, each
 * sending its next request when the last is answered): (a) stopped and started again with
 * the daemon binding its socket itself (what `systemctl restart` does without a socket unit),
 * (b) the same with the socket held across the restart (a socket unit; here
 * test/support/socket-holder.py), (c) `switchyard upgrade`. Per round: the load runs until
 * the old daemon has answered 200 requests, the daemon is replaced, the load runs until the
 * new one has answered 200. Numbers are recorded, never asserted.
 */
export async function runRestartBenchmark(): Promise<string | undefined> {
  const programs = phpStackPrograms('restart');
  if (programs === undefined) return undefined;
  const rounds = positiveKnob('BENCH_RESTART_ROUNDS', 3);
  const loadBefore = formatLoad();
  const results: RoundResult[] = [];
  for (const way of WAYS) {
    const temp = makeTempDir(`bench-restart-${way.replaceAll(/\W+/g, '-')}`);
    const seen = new Set<number>();
    let replacer: Replacer | null = null;
    let front: Awaited<ReturnType<typeof startNginx>> | null = null;
    try {
      const site = await prepareSystemdSite({ dir: temp.path, phpFpm: programs.phpFpm });
      const remember = async () => {
        for (const pid of await replicaPids(site.controlSocket)) seen.add(pid);
      };
      replacer = await startReplacer(way, site);
      await daemonServing(site.controlSocket, replacer.pid());
      front = await startNginx({
        binary: programs.nginx,
        dir: temp.path,
        fastcgiPass: `unix:${site.fastcgiSocket}`,
        documentRoot: site.symlink,
      });
      for (let round = 1; round <= rounds; round += 1) {
        progress(`${way}: round ${round}/${rounds}`);
        await remember();
        const load = startSteadyLoad(front.url);
        await servedMore(site.controlSocket, replacer.pid(), 200);
        const next = await replacer.replace();
        await daemonServing(site.controlSocket, next);
        await servedMore(site.controlSocket, next, 200);
        results.push(summarise(way, await load.stop()));
      }
      await remember();
    } finally {
      await front?.stop();
      await replacer?.close();
      await killLeftovers([...seen]);
      temp.remove();
    }
  }
  return [
    `Load average before the run: ${loadBefore}.`,
    `Setup: nginx → switchyard → 2 php-fpm replicas of 4 workers (the PHP test app), the daemon run from source (tsx); ${rounds} rounds per way.`,
    'Load: 8 keep-alive connections to nginx, /index.php, each sending its next request as soon as the last is answered. Per round: until the old daemon has answered 200 requests, the replacement, until the new one has answered 200.',
    '',
    '| way | round | requests | failed | outage (first to last failure) | longest request | p99 |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: |',
    ...results.map((result, i) => {
      const round = (i % rounds) + 1;
      return `| ${result.way} | ${round} | ${result.requests} | ${result.failed} | ${result.failed === 0 ? '–' : formatMs(result.outageMs)} | ${formatMs(result.longestMs)} | ${formatMs(result.p99Ms)} |`;
    }),
    '',
    ...firstFailures(results),
    `Load average after the run: ${formatLoad()}.`,
  ].join('\n');
}

async function startReplacer(way: Way, site: SystemdSite): Promise<Replacer> {
  if (way === 'restart (socket unit)') {
    const holder = await startSocketHolder(site.fastcgiSocket, 'fastcgi', site.dir, [
      ...switchyardCommand,
      'daemon',
      '-c',
      site.configPath,
    ]);
    let current = (await holder.start()).pid;
    const all = [current];
    return {
      way,
      pid: () => current,
      replace: async () => {
        await stopAndWait(current);
        current = (await holder.start()).pid;
        all.push(current);
        return current;
      },
      close: async () => {
        for (const pid of survivors(all)) process.kill(pid, 'SIGTERM');
        await holder.close();
      },
    };
  }
  let daemon: WatchedProcess = spawnDaemon(site.configPath);
  let current = daemon.pid;
  const all = [current];
  if (way === 'restart') {
    return {
      way,
      pid: () => current,
      replace: async () => {
        await daemon.stop();
        daemon = spawnDaemon(site.configPath);
        current = daemon.pid;
        all.push(current);
        return current;
      },
      close: async () => {
        await daemon.stop();
      },
    };
  }
  return {
    way,
    pid: () => current,
    replace: async () => {
      const upgraded = await runSwitchyard(['upgrade', '-c', site.configPath]);
      const pid = Number(/upgraded: pid (\d+) serves/.exec(upgraded.stdout)?.[1]);
      if (!Number.isInteger(pid)) throw new Error(`upgrade failed: ${upgraded.stderr}`);
      await waitFor(() => survivors([current]).length === 0, {
        timeoutMs: 60_000,
        what: `daemon ${current} to exit`,
      });
      current = pid;
      all.push(pid);
      return pid;
    },
    close: async () => {
      for (const pid of survivors(all)) process.kill(pid, 'SIGTERM');
      await waitFor(() => survivors(all).length === 0, {
        timeoutMs: 60_000,
        what: 'the daemons to exit',
      }).catch(() => {});
    },
  };
}

async function stopAndWait(pid: number): Promise<void> {
  process.kill(pid, 'SIGTERM');
  await waitFor(() => survivors([pid]).length === 0, {
    timeoutMs: 60_000,
    what: `daemon ${pid} to exit`,
  });
}

function summarise(way: Way, batches: readonly HttpLoadResponse[][]): RoundResult {
  const responses = batches.flat();
  const failedResponses = responses.filter(
    (response) => response.error !== null || response.status !== 200,
  );
  const starts = failedResponses.map((response) => response.startedAt).sort((a, b) => a - b);
  const latencies = responses.map((response) => response.latencyMs);
  return {
    way,
    requests: responses.length,
    failed: failedResponses.length,
    longestMs: Math.max(0, ...latencies),
    p99Ms: percentile(latencies, 0.99),
    outageMs: starts.length === 0 ? 0 : (starts.at(-1) ?? 0) - (starts[0] ?? 0),
    firstFailure: failures(batches)[0] ?? null,
  };
}

function firstFailures(results: readonly RoundResult[]): string[] {
  const seen = new Set<Way>();
  const lines: string[] = [];
  for (const result of results) {
    if (result.firstFailure === null || seen.has(result.way)) continue;
    seen.add(result.way);
    lines.push(
      `- ${result.way}, a failed request as the client saw it: \`${result.firstFailure.replaceAll('\n', ' ').slice(0, 160)}\``,
    );
  }
  return lines.length === 0 ? [] : ['What failed:', '', ...lines, ''];
}

function progress(text: string): void {
  process.stderr.write(`restart: ${text}\n`);
}
