import { existsSync } from 'node:fs';
import { BUILT_CLI } from './daemon-process.js';
import { findProgram } from './proc-stats.js';

/** What a benchmark of nginx → (switchyard →) php-fpm runs. */
export interface PhpStackPrograms {
  readonly nginx: string;
  readonly phpFpm: string;
  /** The daemon's CLI: this build's, or another's (BENCH_DAEMON_CLI, for an A/B). */
  readonly cli: string;
}

/**
 * The programs, or undefined after a loud message naming what is missing and how to get it:
 * a benchmark that cannot run says so and the others go on.
 */
export function phpStackPrograms(benchmark: string): PhpStackPrograms | undefined {
  const nginx = findProgram(['nginx']);
  const phpFpm = findProgram(['php-fpm8.2', 'php-fpm']);
  const cli = process.env.BENCH_DAEMON_CLI ?? BUILT_CLI;
  const missing = [
    ...(nginx === undefined ? ['nginx (`apt-get install nginx`)'] : []),
    ...(phpFpm === undefined ? ['php-fpm (`apt-get install php8.2-fpm`)'] : []),
    ...(existsSync(cli) ? [] : [`${cli} (\`npm run build\`)`]),
  ];
  if (nginx === undefined || phpFpm === undefined || missing.length > 0) {
    process.stderr.write(
      `\n*** SKIPPING the ${benchmark} benchmark: missing ${missing.join(', ')} ***\n\n`,
    );
    return undefined;
  }
  return { nginx, phpFpm, cli };
}
