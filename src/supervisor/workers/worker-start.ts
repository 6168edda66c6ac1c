import { lstatSync, unlinkSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { WorkerExit } from './worker.js';
import type { WorkerProcess } from './worker-process.js';

/** How long launch() waits for a worker's socket to appear, unless told otherwise. */
export const START_TIMEOUT_MS = 10_000;
const POLL_MS = 20;
/** sun_path is 108 bytes on Linux, the terminating NUL included. */
const MAX_SOCKET_PATH_BYTES = 107;

export function checkSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new Error(
      `socket path ${path} is ${bytes} bytes, over the limit of ${MAX_SOCKET_PATH_BYTES}: use a shorter runtime directory`,
    );
  }
}

function isSocket(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}

/**
 * Removes a socket left at `path` by an earlier run (a killed worker leaves its file behind);
 * refuses to remove anything that is not a socket.
 */
export function removeStaleSocket(path: string): void {
  let stat: ReturnType<typeof lstatSync>;
  try {
    stat = lstatSync(path);
  } catch {
    return;
  }
  if (!stat.isSocket())
    throw new Error(`${path} exists and is not a socket; refusing to remove it`);
  unlinkSync(path);
}

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
      if (isSocket(socketPath)) return null;
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
