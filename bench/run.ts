import { codecTable, runCodecBenchmarks } from './codec.js';
import { runDataPlaneBenchmark } from './data-plane.js';
import { runDeployBenchmark } from './deploy.js';
import { machineSummary } from './measure.js';
import { runSessionsBenchmark } from './sessions.js';

const BENCHMARKS = ['codec', 'data-plane', 'deploy', 'sessions'] as const;

/** `BENCH_ONLY=deploy` (or a comma-separated list) runs only those; all of them unless set. */
function selected(): ReadonlySet<string> {
  const only = process.env.BENCH_ONLY;
  if (only === undefined || only === '') return new Set(BENCHMARKS);
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
  if (run.has('codec')) {
    process.stdout.write('## FastCGI codec\n\n');
    process.stdout.write(`${codecTable(runCodecBenchmarks())}\n`);
  }
  const dataPlane = run.has('data-plane') ? await runDataPlaneBenchmark() : undefined;
  if (dataPlane !== undefined) {
    process.stdout.write('\n## Data plane: nginx → switchyard → php-fpm\n\n');
    process.stdout.write(`${dataPlane}\n`);
  }
  const deploy = run.has('deploy') ? await runDeployBenchmark() : undefined;
  if (deploy !== undefined) {
    process.stdout.write('\n## Deploy under load\n\n');
    process.stdout.write(`${deploy}\n`);
  }
  const sessions = run.has('sessions') ? await runSessionsBenchmark() : undefined;
  if (sessions !== undefined) {
    process.stdout.write('\n## Session lanes\n\n');
    process.stdout.write(`${sessions}\n`);
  }
}

await main();
