import { setTimeout as delay } from 'node:timers/promises';
import { isSocketFile } from '../../net/unix-socket-file.js';
import type { WorkerExit } from './worker.js';
import type { WorkerProcess } from './worker-process.js';

/** How long launch() waits for a worker's socket to appear, unless told otherwise. */
export const START_TIMEOUT_MS = 10_000;
const POLL_MS = 20;
/** Why a start failed: an exit, or (exit null) no socket within the bound. */
export interface StartFailure {
  readonly exit: WorkerExit | null;
}

/**
 * Waits until `socketPath` exists as a socket while every process keeps running. Resolves null
 * when it does, or the failure: the first process that exited, or the timeout.
 */
export async function waitForStart(
  processes: readonly WorkerProcess[],
  socketPath: string,
  timeoutMs: number,
): Promise<StartFailure | null> {
  const deadline = Date.now() + timeoutMs;
  let settled = false;
  const firstExit = Promise.race(processes.map((entry) => entry.exited)).then((exit) => ({
    exit,
  }));
  const appeared = (async (): Promise<StartFailure | null> => {
    for (;;) {
      if (settled) return null;
      if (isSocketFile(socketPath)) return null;
      const left = deadline - Date.now();
      if (left <= 0) return { exit: null };
      await delay(Math.min(POLL_MS, left));
    }
  })();
  try {
    const outcome = await Promise.race([firstExit, appeared]);
    // An exit that raced the socket's appearance still fails the start.
    const exited = processes.find((entry) => entry.exit() !== undefined)?.exit();
    return exited === undefined ? outcome : { exit: exited };
  } finally {
    settled = true;
  }
}
