import { open, readdir, readlink, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { SessionHasher } from '../sessions/session-hasher.js';
import { deviceNumbers, lockWaitOf, type ProcLock, parseProcLocks } from './proc-locks.js';
import { isLockSyscall, parseSyscallFile, syscallName } from './syscall-names.js';

export interface BlockedOnOptions {
  /**
   * The daemon's session hasher (the one session lanes tag requests with), so a session lock
   * is named by the same hash as the request in logs and status; null: no hash is shown.
   */
  readonly sessionHasher: Pick<SessionHasher, 'tag'> | null;
  /** /proc unless told (tests). */
  readonly proc?: string;
  /** process.arch unless told: syscall numbers differ between architectures. */
  readonly arch?: string;
}

/** /proc/locks of a busy host can be long: what is past this is not read. */
const MAX_LOCKS_BYTES = 1024 * 1024;
/** Open files looked at to name a lock's file; a worker with more is not searched further. */
const MAX_FDS = 4096;
/** PHP's files-handler session ids: sess_ and [A-Za-z0-9,-] (session.sid_bits_per_character). */
const SESSION_FILE = /^sess_([A-Za-z0-9,-]{1,256})$/;

/**
 * What process `pid` is blocked on, as one line for a log and status: the file lock it waits
 * for (a PHP session lock by its hashed id, another file by its path) from /proc/locks and its
 * open files, else its syscall and wchan. Whatever cannot be read (no /proc, EACCES) is said
 * to be unknown; it never throws.
 */
export async function blockedOn(pid: number, options: BlockedOnOptions): Promise<string> {
  const proc = options.proc ?? '/proc';
  const dir = join(proc, String(pid));
  const syscallText = await readText(join(dir, 'syscall'), 4096);
  if (syscallText.error === 'ENOENT') return 'gone: the process has exited';
  const wchanText = await readText(join(dir, 'wchan'), 4096);
  const wchan = wchanText.text === null ? null : meaningfulWchan(wchanText.text);
  const state = syscallText.text === null ? null : parseSyscallFile(syscallText.text);
  const syscall =
    state?.kind === 'syscall' ? syscallName(state.number, options.arch ?? process.arch) : null;

  // A lock wait is worth the look at /proc/locks whenever the syscall says so or is unknown.
  if (syscall === null || isLockSyscall(syscall) || wchan?.includes('lock')) {
    const lock = await lockWait(proc, pid, options.sessionHasher);
    if (lock !== null) return lock;
  }
  const where = wchan === null ? '' : ` (wchan ${wchan})`;
  if (state === null) {
    const reason = syscallText.error ?? 'unreadable';
    return wchan === null ? `unknown (syscall: ${reason})` : `unknown syscall (${reason})${where}`;
  }
  if (state.kind === 'running') return 'running on a CPU (a busy loop?)';
  if (state.kind === 'outside') return `blocked outside a syscall${where}`;
  return `in ${syscall}${where}`;
}

/** `0` (none) and `do_syscall_64` (the syscall entry itself) say nothing about the wait. */
function meaningfulWchan(text: string): string | null {
  const name = text.trim();
  return name === '' || name === '0' || name === 'do_syscall_64' ? null : name;
}

async function lockWait(
  proc: string,
  pid: number,
  hasher: BlockedOnOptions['sessionHasher'],
): Promise<string | null> {
  const locks = await readText(join(proc, 'locks'), MAX_LOCKS_BYTES);
  if (locks.text === null) return null;
  const wait = lockWaitOf(parseProcLocks(locks.text), pid);
  if (wait === null) return null;
  const held = wait.holder === null ? '' : ` (held by pid ${wait.holder.pid})`;
  // A file removed while locked (session_regenerate_id(true), session GC) reads back as
  // `… (deleted)`: still a session file, whose name must not be printed.
  const path = (await openFileOf(join(proc, String(pid)), wait.waiter))?.replace(
    / \(deleted\)$/,
    '',
  );
  const name = path === undefined ? null : basename(path);
  const session = name === null ? null : SESSION_FILE.exec(name);
  if (session !== null) {
    const hash = hasher === null ? 'unknown' : hasher.tag(session[1] as string).hash;
    return `waiting on PHP session lock ${hash}${held}`;
  }
  if (name?.startsWith('sess_') === true) return `waiting on a PHP session lock${held}`;
  const { kind, access, major, minor, inode } = wait.waiter;
  const file = path ?? `inode ${inode} on device ${major}:${minor}`;
  return `waiting on ${kind} ${access} lock on ${file}${held}`;
}

/** The path of the open file of `dir`'s process that is the locked inode, or null. */
async function openFileOf(dir: string, lock: ProcLock): Promise<string | null> {
  let fds: string[];
  try {
    fds = await readdir(join(dir, 'fd'));
  } catch {
    return null;
  }
  for (const fd of fds.slice(0, MAX_FDS)) {
    const link = join(dir, 'fd', fd);
    try {
      const target = await stat(link, { bigint: true });
      if (target.ino !== lock.inode) continue;
      const { major, minor } = deviceNumbers(target.dev);
      if (major !== lock.major || minor !== lock.minor) continue;
      return await readlink(link);
    } catch {
      // Closed meanwhile, or not ours to look at: the next one.
    }
  }
  return null;
}

/** At most `maxBytes` of a (/proc) file, or the error code that kept it from being read. */
async function readText(
  path: string,
  maxBytes: number,
): Promise<{ readonly text: string | null; readonly error: string | null }> {
  try {
    const handle = await open(path, 'r');
    try {
      const buffer = Buffer.alloc(maxBytes);
      let length = 0;
      // /proc files come in pieces; read until the end or the bound.
      for (;;) {
        const { bytesRead } = await handle.read(buffer, length, maxBytes - length, null);
        if (bytesRead === 0) break;
        length += bytesRead;
        if (length === maxBytes) break;
      }
      return { text: buffer.toString('utf8', 0, length), error: null };
    } finally {
      await handle.close();
    }
  } catch (error) {
    return { text: null, error: (error as NodeJS.ErrnoException).code ?? 'unreadable' };
  }
}
