import { join } from 'node:path';
import { type ManagedDaemon, startManagedDaemon } from './managed-daemon.js';
import { repoRoot } from './repo-root.js';

/** The two releases of the PHP test app; they differ only in the name release.php returns. */
export const PHP_R1 = join(repoRoot, 'fixtures/php/releases/r1');
export const PHP_R2 = join(repoRoot, 'fixtures/php/releases/r2');

/** `[response] release_header`: every answer names the directory of the release that served it. */
export const RELEASE_HEADER = 'X-Served-Release';

export interface PhpFpmDaemonOptions {
  readonly label: string;
  /** The php-fpm binary (from requireSystemTool). */
  readonly phpFpm: string;
  /** `[deploy] warmup`; `/gate.php` lets a test hold a switch before its cut-over. */
  readonly warmup: readonly string[];
  readonly count?: number;
  readonly capacity?: number;
  /** `[replicas.php_fpm] pool`: a file of extra pool directives. */
  readonly pool?: string;
}

/**
 * `switchyard daemon` running its own php-fpm masters on a copy of release r1 named `d0`, with
 * the HTTP front and the release header, as the deploy tests want it.
 */
export function startPhpFpmDaemon(options: PhpFpmDaemonOptions): Promise<ManagedDaemon> {
  return startManagedDaemon({
    label: options.label,
    firstRelease: 'd0',
    replicas: [
      '[replicas]',
      'kind = "php-fpm"',
      `count = ${options.count ?? 2}`,
      `capacity = ${options.capacity ?? 4}`,
      '[replicas.php_fpm]',
      `binary = "${options.phpFpm}"`,
      ...(options.pool === undefined ? [] : [`pool = "${options.pool}"`]),
    ],
    releaseSource: PHP_R1,
    extra: [
      '[health]',
      'interval = "1s"',
      'timeout = "2s"',
      'start_timeout = "20s"',
      '[response]',
      `release_header = "${RELEASE_HEADER}"`,
      '[deploy]',
      `warmup = ${JSON.stringify(options.warmup)}`,
      // A held warm-up (test/support/warm-up-gate.ts) is let go well within this.
      'warmup_timeout = "45s"',
      'timeout = "90s"',
    ],
  });
}

/** The release directory name (`d3`) an answer names in its release header. */
export function answeredBy(headers: Readonly<Record<string, unknown>>): string {
  return String(headers[RELEASE_HEADER.toLowerCase()] ?? '');
}
