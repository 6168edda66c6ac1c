import { codecTable, runCodecBenchmarks } from './codec.js';
import { machineSummary } from './measure.js';

/**
 * `npm run bench`: every benchmark, printed as Markdown to paste into BENCHMARKS.md.
 * Not a test: numbers are recorded, never asserted.
 */
function main(): void {
  process.stdout.write(`Machine: ${machineSummary()}\n`);
  process.stdout.write(`Command: npm run bench (${new Date().toISOString()})\n\n`);
  process.stdout.write('## FastCGI codec\n\n');
  process.stdout.write(`${codecTable(runCodecBenchmarks())}\n`);
}

main();
