import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { Readable } from 'node:stream';
import { execa } from 'execa';
import type { Logger } from 'pino';
import type { OutputLog } from './output-log.js';
import type { ProcessGroup } from './process-stop.js';
import type { WorkerExit } from './worker.js';
import { WorkerError } from './worker-error.js';

/** One process switchyard started: the leader of its own process group. */
export interface WorkerProcess extends ProcessGroup {
  readonly pid: number;
  /** Settles when Node has reaped it. Never rejects. */
  readonly exited: Promise<WorkerExit>;
  /** How it ended, once it has. */
  exit(): WorkerExit | undefined;
}

export interface SpawnWorkerOptions {
  /** argv[0] is an absolute path. */
  readonly argv: readonly [string, ...string[]];
  readonly cwd?: string;
  /** The whole environment (process.env is not added to it). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** 'ignore', or a descriptor that becomes the child's fd 0 (a listening socket). */
  readonly stdin: 'ignore' | number;
  /** Reads the child's stdout and stderr. */
  readonly output: OutputLog;
  readonly logger: Logger;
}

export type SpawnOutcome =
  | { readonly ok: true; readonly process: WorkerProcess }
  /** No process came of it (no such file, EACCES, EAGAIN): the error, once known. */
  | { readonly ok: false; readonly error: Promise<WorkerError> };

const SETPRIV_DIRS = ['/usr/bin', '/bin', '/usr/sbin', '/sbin'];
let setprivPath: string | null | undefined;
let warnedNoSetpriv = false;

/** setpriv (util-linux) from PATH or the usual places, looked up once; null if absent. */
export function findSetpriv(): string | null {
  if (setprivPath === undefined) {
    setprivPath = null;
    const dirs = [...(process.env.PATH ?? '').split(delimiter), ...SETPRIV_DIRS];
    for (const dir of dirs.filter((entry) => entry.startsWith('/'))) {
      const candidate = join(dir, 'setpriv');
      try {
        accessSync(candidate, constants.X_OK);
        setprivPath = candidate;
        break;
      } catch {}
    }
  }
  return setprivPath;
}

/**
 * `argv` run through `setpriv --pdeathsig SIGTERM --`: the kernel sends the worker SIGTERM when
 * switchyard dies, even by SIGKILL, so no worker outlives it (a php-fpm master then terminates
 * its children itself; php-cgi and the demo app exit on SIGTERM). setpriv sets the flag and
 * execs the program in the same process, so the pid and the process group stay the worker's.
 * The flag survives that exec (it is only cleared for set-user-ID programs). The kernel sends
 * it when the thread that forked the worker ends: Node spawns from its main thread, whose end
 * is the process's. Without setpriv,
 * the worker is started directly and a warning is logged once.
 */
export function withParentDeathSignal(
  argv: readonly [string, ...string[]],
  logger: Logger,
): [string, ...string[]] {
  const setpriv = findSetpriv();
  if (setpriv === null) {
    if (!warnedNoSetpriv) {
      warnedNoSetpriv = true;
      logger.warn(
        'setpriv (util-linux) not found: workers will outlive switchyard if it is killed with SIGKILL',
      );
    }
    return [...argv];
  }
  return [setpriv, '--pdeathsig', 'SIGTERM', '--', ...argv];
}

/**
 * Spawns one worker process: through setpriv (see withParentDeathSignal), in its own process
 * group and session (`detached`), so that it and everything it forks can be signalled and
 * awaited as one group; stdout and stderr always read by `output`.
 */
export function spawnWorkerProcess(options: SpawnWorkerOptions): SpawnOutcome {
  const [file, ...args] = withParentDeathSignal(options.argv, options.logger);
  let subprocess: ReturnType<typeof start>;
  try {
    subprocess = start(file, args, options);
  } catch (error) {
    // execa validates its options synchronously; callers rely on this function not throwing.
    const message = `cannot start ${options.argv[0]}: ${(error as Error).message}`;
    return { ok: false, error: Promise.resolve(new WorkerError('ERR_WORKER_SPAWN', message)) };
  }
  // A spawn that fails in the kernel (EMFILE, EAGAIN) is emitted as 'error' on the next tick,
  // before execa listens for it; unheard, it would take the daemon down. execa's own result
  // still reports the failure below.
  subprocess.on('error', () => {});
  const { pid } = subprocess;
  const released = lifelineReleased(subprocess.stdio[3] as Readable | null | undefined);
  if (pid === undefined) {
    return {
      ok: false,
      error: subprocess.then(
        (result) =>
          new WorkerError(
            'ERR_WORKER_SPAWN',
            `cannot start ${options.argv[0]}: ${result.originalMessage ?? result.message}`,
          ),
      ),
    };
  }
  if (subprocess.stdout) options.output.attach(subprocess.stdout, pid);
  if (subprocess.stderr) options.output.attach(subprocess.stderr, pid);
  let exit: WorkerExit | undefined;
  const exited = new Promise<WorkerExit>((resolve) => {
    subprocess.once('exit', (code, signal) => {
      exit = { pid, code, signal };
      resolve(exit);
    });
  });
  return {
    ok: true,
    process: { pid, exited, released, exit: () => exit, hasExited: () => exit !== undefined },
  };
}

/**
 * The lifeline: fd 3 of every worker process is one end of a socket pair whose other end only
 * switchyard holds. Everything the process forks inherits it (php-fpm's children, php-cgi's),
 * so switchyard reads EOF once the last of them has exited: the stop learns that a group is
 * gone by an event, children orphaned by a crashed master included, which are not Node's
 * children and give it no exit event. Anything written to it is discarded. A program that
 * closes the descriptor (or a missing pipe) just never settles this: the stop then waits for
 * its step's timeout and looks once.
 */
function lifelineReleased(lifeline: Readable | null | undefined): Promise<void> {
  if (lifeline === null || lifeline === undefined) return new Promise<void>(() => {});
  return new Promise<void>((resolve) => {
    lifeline.once('end', () => resolve());
    lifeline.once('close', () => resolve());
    lifeline.on('error', () => resolve());
    lifeline.resume();
    // Holding the daemon's event loop open is the workers' and the servers' business.
    (lifeline as Readable & { unref?: () => void }).unref?.();
  });
}

function start(file: string, args: readonly string[], options: SpawnWorkerOptions) {
  return execa(file, args, {
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    ...(options.env === undefined ? {} : { env: options.env, extendEnv: false }),
    // execa hands any descriptor number to child_process.spawn as is; its types only list 3..9.
    // fd 3 is the lifeline (see lifelineReleased).
    stdio: [options.stdin as 'ignore' | 3, 'pipe', 'pipe', 'pipe'],
    buffer: false,
    reject: false,
    detached: true,
    cleanup: false,
    stripFinalNewline: false,
  });
}
