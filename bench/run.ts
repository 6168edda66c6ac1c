import { codecTable, runCodecBenchmarks } from './codec.js';
import { runDataPlaneBenchmark } from './data-plane.js';
import { runDeployBenchmark } from './deploy.js';
import { runFuzzBenchmark } from './fuzz.js';
import { machineSummary } from './measure.js';
import { runRestartBenchmark } from './restart.js';
import { runSessionsBenchmark } from './sessions.js';
import { runSoakBenchmark } from './soak.js';
import { runStaticBenchmark } from './static.js';
import { runStuckBenchmark } from './stuck.js';
import { runSurgeBenchmark } from './surge.js';

const BENCHMARKS = [
  'codec',
  'data-plane',
  'deploy',
  'static',
  'surge',
  'sessions',
  'stuck',
  'restart',
  'soak',
  'fuzz',
] as const;
type Benchmark = (typeof BENCHMARKS)[number];

/** Each benchmark's section of the Markdown printed, in the order they run. */
const SECTIONS: ReadonlyArray<{
  readonly name: Benchmark;
  readonly title: string;
  readonly run: () => Promise<string | undefined> | string;
}> = [
  { name: 'codec', title: 'FastCGI codec', run: () => codecTable(runCodecBenchmarks()) },
  {
    name: 'data-plane',
    title: 'Data plane: nginx → switchyard → php-fpm',
    run: runDataPlaneBenchmark,
  },
  { name: 'deploy', title: 'Deploy under load', run: runDeployBenchmark },
  {
    name: 'static',
    title: 'Static files during deploys: page/stylesheet pairs, and the cost of [static]',
    run: runStaticBenchmark,
  },
  {
    name: 'surge',
    title: 'Capacity during a switch: the longest stall with and without surge',
    run: runSurgeBenchmark,
  },
  { name: 'sessions', title: 'Session lanes', run: runSessionsBenchmark },
  {
    name: 'stuck',
    title: 'One global session hangs the site: stuck workers, lanes and the watchdog',
    run: runStuckBenchmark,
  },
  {
    name: 'restart',
    title: 'Replacing the daemon: restart, restart with a socket unit, switchyard upgrade',
    run: runRestartBenchmark,
  },
  {
    name: 'soak',
    title: 'Soak: a million requests through deploys, restarts and kills',
    run: runSoakBenchmark,
  },
  { name: 'fuzz', title: 'Fuzz: a million generated FastCGI connections', run: runFuzzBenchmark },
];

/** Long runs (tens of minutes each): only when BENCH_ONLY names them. */
const LONG_RUNS: ReadonlySet<string> = new Set(['soak', 'fuzz']);

/**
 * `BENCH_ONLY=deploy` (or a comma-separated list) runs only those; unless set, all of them but
 * the long runs.
 */
function selected(): ReadonlySet<string> {
  const only = process.env.BENCH_ONLY;
  if (only === undefined || only === '') {
    return new Set(BENCHMARKS.filter((name) => !LONG_RUNS.has(name)));
  }
  const names = only.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(BENCHMARKS as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new Error(`BENCH_ONLY: unknown ${unknown.join(', ')}; known: ${BENCHMARKS.join(', ')}`);
  }
  return new Set(names);
}

/**
 * `npm run bench`: every benchmark, printed as Markdown to paste into BENCHMARKS.md.
 * Not a test: numbers are recorded, never asserted. Progress goes to stderr.
 */
async function main(): Promise<void> {
  const run = selected();
  process.stdout.write(`Machine: ${machineSummary()}\n`);
  process.stdout.write(`Command: npm run bench (${new Date().toISOString()})\n\n`);
  for (const section of SECTIONS) {
    if (!run.has(section.name)) continue;
    // undefined: the benchmark was skipped, and said why on stderr.
    const text = await section.run();
    if (text !== undefined) process.stdout.write(`## ${section.title}\n\n${text}\n\n`);
  }
}

await main();
