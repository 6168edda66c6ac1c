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
  /** More `[replicas.php_fpm]` keys. */
  readonly phpFpmExtra?: readonly string[];
  /** `[deploy]` keys besides warmup; bounds a held warm-up is let go well within, unless told. */
  readonly deployLimits?: readonly string[];
  /** Whole tables appended to the config (`[sessions]`). */
  readonly extra?: readonly string[];
  /** The release copied as `d0`; the PHP test app's r1 unless told. */
  readonly releaseSource?: string;
  /** `[drain] timeout`, "10s" unless told. */
  readonly drainTimeout?: string;
}

/** A held warm-up (test/support/warm-up-gate.ts) is let go well within these. */
const HELD_WARM_UP_LIMITS = ['warmup_timeout = "45s"', 'timeout = "90s"'];

/**
 * `switchyard daemon` running its own php-fpm masters on a copy of release r1 (or the one
 * given) named `d0`, health-checked every second, with the HTTP front and the release header,
 * as the deploy tests want it.
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
      ...(options.phpFpmExtra ?? []),
    ],
    releaseSource: options.releaseSource ?? PHP_R1,
    ...(options.drainTimeout === undefined ? {} : { drainTimeout: options.drainTimeout }),
    extra: [
      '[health]',
      'interval = "1s"',
      'timeout = "2s"',
      'start_timeout = "20s"',
      '[response]',
      `release_header = "${RELEASE_HEADER}"`,
      '[deploy]',
      `warmup = ${JSON.stringify(options.warmup)}`,
      ...(options.deployLimits ?? HELD_WARM_UP_LIMITS),
      ...(options.extra ?? []),
    ],
  });
}

/** The release directory name (`d3`) an answer names in its release header. */
export function answeredBy(headers: Readonly<Record<string, unknown>>): string {
  return String(headers[RELEASE_HEADER.toLowerCase()] ?? '');
}
