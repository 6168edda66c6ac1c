import { codecTable, runCodecBenchmarks } from './codec.js';
import { runDataPlaneBenchmark } from './data-plane.js';
import { machineSummary } from './measure.js';

/**
 * `npm run bench`: every benchmark, printed as Markdown to paste into BENCHMARKS.md.
 * Not a test: numbers are recorded, never asserted. Progress goes to stderr.
 */
async function main(): Promise<void> {
  process.stdout.write(`Machine: ${machineSummary()}\n`);
  process.stdout.write(`Command: npm run bench (${new Date().toISOString()})\n\n`);
  process.stdout.write('## FastCGI codec\n\n');
  process.stdout.write(`${codecTable(runCodecBenchmarks())}\n`);
  const dataPlane = await runDataPlaneBenchmark();
  if (dataPlane !== undefined) {
    process.stdout.write('\n## Data plane: nginx → switchyard → php-fpm\n\n');
    process.stdout.write(`${dataPlane}\n`);
  }
}

await main();
