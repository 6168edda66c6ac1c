import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningDataPlane, startDataPlane } from './data-plane.js';
import { type RunningPhpFpm, startPhpFpm } from './php-fpm.js';
import { repoRoot } from './repo-root.js';
import { makeTempDir } from './temp-dir.js';

export const PHP_RELEASE = realpathSync(join(repoRoot, 'fixtures/php/releases/r1'));

export interface PhpFpmDataPlane {
  readonly plane: RunningDataPlane;
  /** Two php-fpm masters, `a` and `b`: the balancer's replicas `r0` and `r1`. */
  readonly masters: RunningPhpFpm[];
  readonly symlink: string;
  readonly dir: string;
}

export interface PhpFpmDataPlaneOptions {
  /** Each master's pm.max_children, and the capacity switchyard routes to it. */
  readonly children: number;
  readonly maxRequests?: number;
  readonly queue?: number;
  readonly queueTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly abandonAfterMs?: number;
  /** As managed replicas (replaced when stuck), or external ones (the default). */
  readonly replaceable?: boolean;
}

/**
 * The data plane in-process over two real php-fpm masters serving fixtures/php/releases/r1
 * through a `current` symlink. Whatever it starts is pushed onto `cleanups` (run them in
 * reverse, whatever the test's outcome).
 */
export async function startPhpFpmDataPlane(
  binary: string,
  options: PhpFpmDataPlaneOptions,
  cleanups: Array<() => Promise<void> | void>,
): Promise<PhpFpmDataPlane> {
  const temp = makeTempDir('res');
  cleanups.push(temp.remove);
  const symlink = join(temp.path, 'current');
  symlinkSync(PHP_RELEASE, symlink);
  const masters: RunningPhpFpm[] = [];
  for (const name of ['a', 'b']) {
    mkdirSync(join(temp.path, name));
    const master = await startPhpFpm({
      binary,
      dir: join(temp.path, name),
      children: options.children,
      ...(options.maxRequests === undefined ? {} : { maxRequests: options.maxRequests }),
    });
    cleanups.push(() => master.stop());
    masters.push(master);
  }
  const { children, maxRequests: _, replaceable, ...limits } = options;
  const plane = await startDataPlane({
    dir: temp.path,
    symlink,
    replicas: masters.map((m) => ({
      socket: m.socket,
      capacity: children,
      release: PHP_RELEASE,
      ...(replaceable === undefined ? {} : { replaceable }),
    })),
    ...limits,
  });
  cleanups.push(() => plane.stop());
  return { plane, masters, symlink, dir: temp.path };
}
