import { chmodSync, mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningPhpFpm, startPhpFpm } from './php-fpm.js';
import { repoRoot } from './repo-root.js';
import { type SwitchyardProcess, startSwitchyard } from './switchyard-process.js';
import { makeTempDir } from './temp-dir.js';

/** The release the stack serves, through the `current` symlink. */
export const phpRelease = realpathSync(join(repoRoot, 'fixtures/php/releases/r1'));

export interface PhpStackOptions {
  /** The php-fpm binary. */
  readonly phpFpm: string;
  /** Label of the temp directory. */
  readonly label: string;
  /** Children of each php-fpm master. */
  readonly children: number;
  /** Switchyard's `capacity` for each replica. */
  readonly capacity: number;
  readonly maxRequests?: number;
  /** Mode of the temp directory, for a web server whose children run as another user. */
  readonly dirMode?: number;
  /** How the cleanup stops switchyard: SIGTERM waits for it (SIGKILL after 5 s). */
  readonly switchyardStopSignal: 'SIGTERM' | 'SIGKILL';
}

export interface PhpStack {
  /** The temp directory; `switchyard.sock` is switchyard's FastCGI listener in it. */
  readonly dir: string;
  /** `<dir>/current`, pointing at `phpRelease`: the web server's document root. */
  readonly symlink: string;
  readonly fastcgiSocket: string;
  readonly masters: RunningPhpFpm[];
  readonly switchyard: SwitchyardProcess;
  /** Stops switchyard, then the masters, then removes the directory. */
  readonly cleanup: () => Promise<void>;
}

/**
 * A release symlink, two php-fpm masters and the switchyard daemon in front of them, for a
 * web server to be put in front of. If starting fails, what was started is cleaned up.
 */
export async function startPhpReplicasAndSwitchyard(options: PhpStackOptions): Promise<PhpStack> {
  const cleanups: Array<() => Promise<void> | void> = [];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) await step();
  };
  try {
    const temp = makeTempDir(options.label);
    cleanups.push(temp.remove);
    if (options.dirMode !== undefined) chmodSync(temp.path, options.dirMode);
    const symlink = join(temp.path, 'current');
    symlinkSync(phpRelease, symlink);
    const masters: RunningPhpFpm[] = [];
    for (const name of ['a', 'b']) {
      mkdirSync(join(temp.path, name));
      const master = await startPhpFpm({
        binary: options.phpFpm,
        dir: join(temp.path, name),
        children: options.children,
        ...(options.maxRequests === undefined ? {} : { maxRequests: options.maxRequests }),
      });
      cleanups.push(() => master.stop());
      masters.push(master);
    }
    const switchyard = await startSwitchyard(
      temp.path,
      [
        '[listen]',
        'fastcgi = "unix:./switchyard.sock"',
        'mode = "0666"',
        '[release]',
        'symlink = "./current"',
        '[replicas]',
        'kind = "external"',
        `addresses = [${masters.map((m) => `"unix:${m.socket}"`).join(', ')}]`,
        `capacity = ${options.capacity}`,
        '[limits]',
        'queue = 1024',
        'queue_timeout = "10s"',
        'request_timeout = "30s"',
      ].join('\n'),
    );
    cleanups.push(async () => {
      if (switchyard.child.exitCode === null) switchyard.child.kill(options.switchyardStopSignal);
      const timer = setTimeout(() => switchyard.child.kill('SIGKILL'), 5_000);
      await switchyard.exited;
      clearTimeout(timer);
    });
    return {
      dir: temp.path,
      symlink,
      fastcgiSocket: join(temp.path, 'switchyard.sock'),
      masters,
      switchyard,
      cleanup,
    };
  } catch (error) {
    await cleanup();
    throw error;
  }
}
