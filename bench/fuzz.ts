import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import fc from 'fast-check';
import { ControlClient } from '../src/control/control-client.js';
import type { DaemonStatus } from '../src/control/messages.js';
import { phpParams } from '../test/support/fcgi-exchange.js';
import { DEMO_APP_REPLICAS } from '../test/support/managed-daemon.js';
import { peakRss, startPeakRss } from '../test/support/proc-memory.js';
import { BUILT_CLI } from './daemon-process.js';
import { countKnob, positiveKnob } from './env-knobs.js';
import { type FuzzConnection, fuzzConnection } from './fcgi-arbitraries.js';
import { runProbe } from './fcgi-probe.js';
import { fuzzSummaryTable, goodClientTable } from './fuzz-table.js';
import { type GoodClientResult, startGoodClient } from './good-fcgi-client.js';
import { formatLoad } from './load-average.js';
import { logSummary, logTable } from './log-summary.js';
import { histogram, probeTable } from './probe-table.js';
import { ProbeTally } from './probe-tally.js';
import { startRssSampler } from './rss-sampler.js';
import { rssTable } from './rss-table.js';
import { withStack } from './stack-scope.js';

interface FuzzSettings {
  readonly connections: number;
  readonly concurrency: number;
  readonly seed: number;
  readonly maxMinutes: number;
  readonly rssEverySeconds: number;
  readonly log: string;
}

function settings(): FuzzSettings {
  return {
    connections: positiveKnob('BENCH_FUZZ_CONNECTIONS', 1_000_000),
    concurrency: positiveKnob('BENCH_FUZZ_CONCURRENCY', 32),
    seed: countKnob('BENCH_FUZZ_SEED', 20261202),
    maxMinutes: positiveKnob('BENCH_FUZZ_MAX_MINUTES', 40),
    rssEverySeconds: positiveKnob('BENCH_FUZZ_RSS_SECONDS', 5),
    log: process.env.BENCH_FUZZ_LOG ?? join(tmpdir(), `switchyard-fuzz-${Date.now()}.log`),
  };
}

/** Scripts drawn this many at a time, each batch with its own seed (the run's seed + batch). */
const BATCH = 1000;

/**
 * A million generated FastCGI client connections (fast-check: whole requests, unfinished ones,
 * lying headers, bad pair lengths, interleaved ids, garbage, cut short or mutated), several
 * in flight at once, against the built daemon running 2 command replicas of the demo app,
 * while two good clients (one kept-alive connection, one connection per request) must get
 * every answer right. Returns the Markdown to print, or undefined when the build is missing.
 */
export async function runFuzzBenchmark(): Promise<string | undefined> {
  const cli = process.env.BENCH_DAEMON_CLI ?? BUILT_CLI;
  if (!existsSync(cli)) {
    process.stderr.write(
      `\n*** SKIPPING the fuzz benchmark: missing ${cli} (npm run build) ***\n\n`,
    );
    return undefined;
  }
  const s = settings();
  const loadBefore = formatLoad();
  progress(`daemon log: ${s.log}`);
  return withStack('fuzz', async (stack) => {
    const daemon = await stack.startSwitchyard({
      cli,
      releaseHeader: 'X-Served-Release',
      replicas: DEMO_APP_REPLICAS(2, 4),
      warmup: ['/'],
      logFile: s.log,
    });
    const arbitrary = fuzzConnection(stack.symlink);
    let batch: FuzzConnection[] = [];
    let drawn = 0;
    const next = (): FuzzConnection => {
      if (drawn % BATCH === 0) {
        batch = fc.sample(arbitrary, { numRuns: BATCH, seed: s.seed + drawn / BATCH });
      }
      const connection = batch[drawn % BATCH] as FuzzConnection;
      drawn += 1;
      return connection;
    };
    const startRss = startPeakRss(daemon.pid);
    const sampler = startRssSampler(daemon.pid, s.rssEverySeconds * 1000);
    const good = [true, false].map((keepAlive) =>
      startGoodClient({
        socket: daemon.socket,
        params: phpParams(stack.symlink, '/'),
        check: (response) =>
          response.status === 200 &&
          response.body.toString().startsWith('Hello from switchyard demo: release r1')
            ? null
            : `answered ${response.status}: ${response.body.toString().slice(0, 120).trim()}`,
        keepAlive,
        pauseMs: 5,
        timeoutMs: 10_000,
      }),
    );
    const byShape = new Map<string, ProbeTally>();
    const all = new ProbeTally();
    const started = performance.now();
    const deadline = started + s.maxMinutes * 60_000;
    let reported = started;
    const worker = async () => {
      while (drawn < s.connections && performance.now() < deadline && daemon.alive()) {
        const { script, shape } = next();
        const outcome = await runProbe(daemon.socket, script);
        const tally = byShape.get(shape) ?? new ProbeTally();
        byShape.set(shape, tally);
        tally.add(outcome);
        all.add(outcome);
        if (performance.now() - reported > 30_000) {
          reported = performance.now();
          const seconds = (reported - started) / 1000;
          progress(
            `${drawn} connections in ${seconds.toFixed(0)} s (${(drawn / seconds).toFixed(0)}/s)`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: s.concurrency }, worker));
    const durationMs = performance.now() - started;
    const goodResults: GoodClientResult[] = [];
    for (const client of good) goodResults.push(await client.stop());
    const samples = sampler.stop();
    const alive = daemon.alive();
    const peak = alive ? peakRss(daemon.pid) : 0;
    const status = alive ? await new ControlClient(daemon.control).status() : null;
    const stoppedEarly =
      drawn < s.connections
        ? ` **Stopped after ${drawn}: ${alive ? `the ${s.maxMinutes} min bound` : 'the daemon exited'}.**`
        : '';
    return [
      `Load average before the run: ${loadBefore}.`,
      `Fuzz: ${s.connections} connections drawn by fast-check (seed ${s.seed}, batches of ${BATCH}), ${s.concurrency} in flight at once, against 2 command replicas of the demo app (capacity 4 each).${stoppedEarly}`,
      alive
        ? `The daemon was still running at the end: ${replicaLine(status)}.`
        : `**The daemon exited.** Its last output:\n\n\`\`\`\n${daemon.output().slice(-4000)}\n\`\`\``,
      '',
      fuzzSummaryTable(all, durationMs),
      '',
      probeTable(
        'shape',
        [...byShape].sort(([a], [b]) => a.localeCompare(b)),
      ),
      '',
      `Socket errors the fuzz clients saw: ${histogram(all.errors) || 'none'}.`,
      '',
      goodClientTable(['kept-alive connection', 'a connection per request'], goodResults),
      '',
      rssTable(startRss, peak, samples),
      '',
      logTable(logSummary(s.log)),
      '',
      `Load average after the run: ${formatLoad()}.`,
    ].join('\n');
  });
}

function replicaLine(status: DaemonStatus | null): string {
  if (status === null) return 'no status';
  return status.replicas
    .map((r) => `${r.name} ${r.state}, ${r.served} served, ${r.restarts} restarts`)
    .join('; ');
}

function progress(text: string): void {
  process.stderr.write(`fuzz: ${text}\n`);
}
