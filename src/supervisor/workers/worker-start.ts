import { type FSWatcher, watch } from 'node:fs';
import { basename, dirname } from 'node:path';
import { isSocketFile } from '../../net/unix-socket-file.js';
import type { WorkerExit } from './worker.js';
import type { WorkerProcess } from './worker-process.js';

/** How long launch() waits for a worker's socket to appear, unless told otherwise. */
export const START_TIMEOUT_MS = 10_000;

/** Why a start failed: an exit, or (exit null) no socket within the bound. */
export interface StartFailure {
  readonly exit: WorkerExit | null;
}

/**
 * Waits until `path` is there (`isThere`: a socket unless told) while every process keeps
 * running. Resolves null when it is, or the failure: the first process that exited, or the
 * timeout.
 *
 * Event-driven: the path's directory is watched (inotify) and the path looked at on each
 * event in it, once at the start (it may already be there) and once at the timeout. A socket
 * that exists but does not listen yet refuses connections: the health checks that follow
 * retry, so its appearance is enough here (php-fpm's launcher waits for its pid file, which
 * php-fpm writes once it listens). Where no watch can be had (the inotify limits), only the
 * timeout's look is left: the start is slow, not wrong.
 */
export function waitForStart(
  processes: readonly WorkerProcess[],
  path: string,
  timeoutMs: number,
  isThere: (path: string) => boolean = isSocketFile,
): Promise<StartFailure | null> {
  return new Promise((resolve) => {
    let settled = false;
    let watcher: FSWatcher | null = null;
    const finish = (outcome: StartFailure | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      watcher?.close();
      // An exit that raced the socket's appearance still fails the start.
      const exited = processes.find((entry) => entry.exit() !== undefined)?.exit();
      resolve(exited === undefined ? outcome : { exit: exited });
    };
    const look = (): void => {
      if (isThere(path)) finish(null);
    };
    const timer = setTimeout(() => {
      look();
      finish({ exit: null });
    }, timeoutMs);
    for (const entry of processes) void entry.exited.then((exit) => finish({ exit }));
    const name = basename(path);
    try {
      watcher = watch(dirname(path), { persistent: false }, (_event, file) => {
        // Other replicas' files share the directory; an event without a name is looked at.
        if (file === null || file === name) look();
      });
      watcher.on('error', () => {
        watcher?.close();
        watcher = null;
      });
    } catch {
      watcher = null;
    }
    look();
  });
}
