import { lstatSync, renameSync, rmSync } from 'node:fs';
import { connect, type Server } from 'node:net';
import { basename, dirname, join } from 'node:path';

/** sun_path is 108 bytes on Linux, the terminating NUL included. */
const MAX_SOCKET_PATH_BYTES = 107;

/** Throws when `path` is too long to bind a unix socket on. */
export function checkSocketPath(path: string): void {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH_BYTES) {
    throw new Error(
      `socket path ${path} is ${bytes} bytes, over the limit of ${MAX_SOCKET_PATH_BYTES}: use a shorter runtime directory`,
    );
  }
}

/** True when a unix socket file is at `path` (lstat: a symlink to one is not). */
export function isSocketFile(path: string): boolean {
  try {
    return lstatSync(path).isSocket();
  } catch {
    return false;
  }
}

export interface StaleSocketChecks {
  /** The error thrown when `path` holds something that is not a socket: it is never deleted. */
  readonly notASocket: () => Error;
  /**
   * Asked before a socket file is removed: the error to throw when a live process still
   * answers on it (two listeners on one path would split its clients), else null.
   */
  readonly inUse?: () => Promise<Error | null>;
}

/**
 * Clears `path` for a new unix socket: nothing there is fine, a socket file left by a
 * process that is gone is removed, anything else is refused with the caller's error.
 */
export async function removeStaleSocket(path: string, checks: StaleSocketChecks): Promise<void> {
  if (!socketOrNothing(path, checks)) return;
  const inUse = await checks.inUse?.();
  if (inUse !== undefined && inUse !== null) throw inUse;
  rmSync(path, { force: true });
}

/**
 * removeStaleSocket without asking whether it is in use, for a path only this process binds
 * (a replica's socket, left behind by a killed worker).
 */
export function removeOwnStaleSocket(
  path: string,
  notASocket = () => new Error(`${path} exists and is not a socket; refusing to remove it`),
): void {
  if (socketOrNothing(path, { notASocket })) rmSync(path, { force: true });
}

/** True when a socket is at `path`, false when nothing is; throws for anything else. */
function socketOrNothing(path: string, checks: StaleSocketChecks): boolean {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return false; // nothing there
  }
  if (!isSocket) throw checks.notASocket();
  return true;
}

/** True when something accepts a connection on the unix socket at `path`. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}

/**
 * Listens on the unix socket `path` with umask 0177, so the socket is born 0600 (root-only for
 * a root daemon) and no one else can connect before the caller sets its group and mode. Node
 * binds synchronously inside listen(), so the umask is only changed for that call. Rejects
 * with the listen error as it is.
 */
export async function listenOwnerOnly(
  server: Server,
  path: string,
  backlog?: number,
): Promise<void> {
  const listening = new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.once('listening', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const previous = setUmask(0o177);
  try {
    server.listen(backlog === undefined ? { path } : { path, backlog });
  } finally {
    if (previous !== undefined) setUmask(previous);
  }
  await listening;
}

/** process.umask(mask), or undefined where it is not allowed (worker threads): chmod still follows. */
function setUmask(mask: number): number | undefined {
  try {
    return process.umask(mask);
  } catch {
    return undefined;
  }
}

let scratchCount = 0;

/**
 * listenOwnerOnly on `path`, bound under a scratch name beside it and renamed into place. libuv
 * unlinks the name a unix listener was bound to when it closes; bound this way, that name is
 * the scratch one, already gone, so closing never takes the path away. The path stays for
 * whoever else accepts on the same socket (a successor started by `switchyard upgrade`); the
 * owner removes it when it stops (removeSocketFileIfSame). A scratch name over sun_path's
 * limit falls back to binding `path` itself.
 */
export async function listenInPlace(server: Server, path: string, backlog?: number): Promise<void> {
  scratchCount += 1;
  const scratch = join(dirname(path), `.${basename(path)}.${process.pid}.${scratchCount}`);
  if (Buffer.byteLength(scratch) > MAX_SOCKET_PATH_BYTES) {
    await listenOwnerOnly(server, path, backlog);
    return;
  }
  rmSync(scratch, { force: true });
  await listenOwnerOnly(server, scratch, backlog);
  try {
    renameSync(scratch, path);
  } catch (error) {
    server.close();
    throw error;
  }
}

/**
 * True when a socket whose kernel-recorded name is `bound` serves `path`: bound there, or
 * bound by listenInPlace under its scratch name beside it (the kernel keeps the name a socket
 * was bound to, not the one it was renamed to).
 */
export function boundFor(bound: string, path: string): boolean {
  if (bound === path) return true;
  if (dirname(bound) !== dirname(path)) return false;
  const scratch = basename(bound);
  const prefix = `.${basename(path)}.`;
  return scratch.startsWith(prefix) && /^\d+\.\d+$/.test(scratch.slice(prefix.length));
}

/** The inode of the socket file at `path`, to recognise it later; null when none is there. */
export function socketFileInode(path: string): number | null {
  try {
    const stats = lstatSync(path);
    return stats.isSocket() ? stats.ino : null;
  } catch {
    return null;
  }
}

/** Removes the socket file at `path` if it is still the one with `inode` (not a successor's). */
export function removeSocketFileIfSame(path: string, inode: number | null): void {
  if (inode === null || socketFileInode(path) !== inode) return;
  rmSync(path, { force: true });
}
