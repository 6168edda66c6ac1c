import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { peakRss, startPeakRss } from '../test/support/proc-memory.js';
import { countKnob, positiveKnob } from './env-knobs.js';
import { formatLoad } from './load-average.js';
import { logSummary, logTable } from './log-summary.js';
import { MALFORMED_KINDS } from './malformed-fcgi.js';
import { phpStackPrograms } from './php-stack-programs.js';
import { probeTable } from './probe-table.js';
import { ProbeTally } from './probe-tally.js';
import { startRssSampler } from './rss-sampler.js';
import { rssTable } from './rss-table.js';
import { chaosPlan, runChaos } from './soak-chaos.js';
import { startSoakLoad } from './soak-load.js';
import { runMalformed } from './soak-malformed.js';
import { failureList, loadTable, opsTable } from './soak-table.js';
import { withStack } from './stack-scope.js';
import { warmUp } from './warm-up.js';

const RELEASE_HEADER = 'X-Served-Release';

interface SoakSettings {
  readonly requests: number;
  readonly deploys: number;
  readonly restarts: number;
  readonly kills: number;
  readonly malformed: number;
  readonly connections: number;
  readonly slowEvery: number;
  readonly slowMs: number;
  readonly maxMinutes: number;
  readonly rssEverySeconds: number;
  readonly log: string;
}

function settings(): SoakSettings {
  return {
    requests: positiveKnob('BENCH_SOAK_REQUESTS', 1_000_000),
    deploys: countKnob('BENCH_SOAK_DEPLOYS', 100),
    restarts: countKnob('BENCH_SOAK_RESTARTS', 100),
    kills: countKnob('BENCH_SOAK_KILLS', 20),
    malformed: countKnob('BENCH_SOAK_MALFORMED', 200),
    connections: positiveKnob('BENCH_SOAK_CONNECTIONS', 16),
    slowEvery: positiveKnob('BENCH_SOAK_SLOW_EVERY', 100),
    slowMs: positiveKnob('BENCH_SOAK_SLOW_MS', 200),
    maxMinutes: positiveKnob('BENCH_SOAK_MAX_MINUTES', 40),
    rssEverySeconds: positiveKnob('BENCH_SOAK_RSS_SECONDS', 5),
    log: process.env.BENCH_SOAK_LOG ?? join(tmpdir(), `switchyard-soak-${Date.now()}.log`),
  };
}

/**
 * The soak: a keep-alive load of at least `requests` through nginx → switchyard (2 php-fpm
 * replicas of 4) while, spread over it, the daemon is deployed to (alternating two releases),
 * restarted and has a replica's php-fpm master SIGKILLed, and malformed clients connect
 * straight to its FastCGI socket. Every answer is checked; the daemon's RSS is sampled
 * throughout. Returns the Markdown to print, or undefined when a program is missing.
 */
export async function runSoakBenchmark(): Promise<string | undefined> {
  const programs = phpStackPrograms('soak');
  if (programs === undefined) return undefined;
  const { nginx, phpFpm, cli } = programs;
  const s = settings();
  const loadBefore = formatLoad();
  progress(`daemon log: ${s.log}`);
  return withStack('soak', async (stack) => {
    const daemon = await stack.startSwitchyard({
      cli,
      phpFpm,
      capacity: 4,
      releaseHeader: RELEASE_HEADER,
      logFile: s.log,
    });
    const front = await stack.startNginx(nginx, daemon.socket, {
      keepConn: true,
      realpathRoot: false,
    });
    await warmUp(front.url, ['/hello.php', '/index.php', '/wait.php?ms=0'], 3000);
    const plan = chaosPlan({ deploy: s.deploys, restart: s.restarts, kill: s.kills });
    const deadline = performance.now() + s.maxMinutes * 60_000;
    let chaosDone = false;
    let malformedDone = false;
    /** Set when the stack closes: a run that failed half way stops its load at once. */
    let closing = false;
    const timeUp = () => performance.now() > deadline;
    const startRss = startPeakRss(daemon.pid);
    const sampler = startRssSampler(daemon.pid, s.rssEverySeconds * 1000);
    const load = startSoakLoad({
      url: front.url,
      connections: s.connections,
      slowEvery: s.slowEvery,
      slowMs: s.slowMs,
      releaseHeader: RELEASE_HEADER,
      requestTimeoutMs: 60_000,
      // The request count is a floor: the load lasts until every operation is done too.
      keepGoing: (completed) =>
        !closing && !timeUp() && (completed < s.requests || !chaosDone || !malformedDone),
    });
    // Stopped before nginx should this run fail half way.
    stack.defer(async () => {
      closing = true;
      await load.finished;
    });
    // Item `index` of `total` is due once that share of the requests is done.
    const due = async (index: number, total: number) => {
      const share = (index + 1) / (total + 1);
      while (load.completed() < s.requests * share) {
        if (closing || timeUp()) return false;
        await delay(50);
      }
      return !closing && !timeUp();
    };
    const [ops, malformed] = await Promise.all([
      runChaos(plan, {
        cli,
        config: daemon.config,
        control: daemon.control,
        releases: [stack.releases.r1, stack.releases.r2],
        due,
        progress,
      }).finally(() => {
        chaosDone = true;
      }),
      runMalformed(daemon.socket, s.malformed, due).finally(() => {
        malformedDone = true;
      }),
      reportProgress(load, s.requests, () => chaosDone && malformedDone),
    ]);
    const result = await load.finished;
    const samples = sampler.stop();
    const peak = daemon.alive() ? peakRss(daemon.pid) : 0;
    const stoppedEarly = timeUp() ? ` **Stopped by the ${s.maxMinutes} min bound.**` : '';
    return [
      `Load average before the run: ${loadBefore}.`,
      `Load: ${s.connections} keep-alive connections through nginx, each sending its next request when its answer is in; /hello.php and /index.php in turn, every ${s.slowEvery}th request /wait.php?ms=${s.slowMs}. At least ${s.requests} requests, until every operation is done.${stoppedEarly}`,
      `The daemon ${daemon.alive() ? 'was still running at the end' : '**had exited**'}.`,
      '',
      loadTable(result, s.slowMs),
      '',
      failureList(result),
      '',
      rssTable(startRss, peak, samples),
      '',
      opsTable(plan, ops),
      '',
      probeTable(
        'malformed connection',
        MALFORMED_KINDS.map((kind) => {
          const tally = new ProbeTally();
          for (const outcome of malformed) if (outcome.kind === kind) tally.add(outcome);
          return [kind, tally] as const;
        }),
      ),
      '',
      logTable(logSummary(s.log)),
      '',
      `Load average after the run: ${formatLoad()}.`,
    ].join('\n');
  });
}

/** A line every 30 s on stderr, until the load's target and every operation are done. */
async function reportProgress(
  load: { completed(): number },
  target: number,
  opsDone: () => boolean,
): Promise<void> {
  const started = performance.now();
  let reported = started;
  while (load.completed() < target || !opsDone()) {
    await delay(1000);
    if (performance.now() - reported < 30_000) continue;
    reported = performance.now();
    const seconds = (reported - started) / 1000;
    progress(
      `${load.completed()} requests in ${seconds.toFixed(0)} s (${(load.completed() / seconds).toFixed(0)}/s)`,
    );
  }
}

function progress(text: string): void {
  process.stderr.write(`soak: ${text}\n`);
}
