/** One line of /proc/locks: a lock held, or (`->`) a process waiting for it. */
export interface ProcLock {
  /** The lock's ordinal: a waiter line carries the number of the lock it waits for. */
  readonly id: number;
  readonly waiting: boolean;
  /** FLOCK (flock(2), PHP's session files), POSIX (fcntl), OFDLCK, LEASE, … */
  readonly kind: string;
  /** READ or WRITE (or a lease's words). */
  readonly access: string;
  /** The owner's pid; 0 or -1 when the owner is in another pid namespace. */
  readonly pid: number;
  readonly major: number;
  readonly minor: number;
  readonly inode: bigint;
}

// `1: FLOCK  ADVISORY  WRITE 1235 08:01:5678 0 EOF`, `1: -> FLOCK  ADVISORY  WRITE 1236 …`;
// the device is major:minor in hex, the inode in decimal (fs/locks.c lock_get_status).
const LOCK_LINE =
  /^(\d+):\s+(->\s+)?(\S+)\s+\S+\s+(\S+)\s+(-?\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/;

/** The lines of /proc/locks it understands; others (a kernel's new format) are skipped. */
export function parseProcLocks(text: string): ProcLock[] {
  const locks: ProcLock[] = [];
  for (const line of text.split('\n')) {
    const match = LOCK_LINE.exec(line);
    if (match === null) continue;
    const [, id, arrow, kind, access, pid, major, minor, inode] = match as unknown as string[];
    locks.push({
      id: Number(id),
      waiting: arrow !== undefined,
      kind: kind as string,
      access: access as string,
      pid: Number(pid),
      major: Number.parseInt(major as string, 16),
      minor: Number.parseInt(minor as string, 16),
      inode: BigInt(inode as string),
    });
  }
  return locks;
}

/** The lock `pid` waits for, and who holds it; null when it waits for none. */
export function lockWaitOf(
  locks: readonly ProcLock[],
  pid: number,
): { readonly waiter: ProcLock; readonly holder: ProcLock | null } | null {
  const waiter = locks.find((lock) => lock.waiting && lock.pid === pid);
  if (waiter === undefined) return null;
  const holder = locks.find(
    (lock) => !lock.waiting && lock.id === waiter.id && lock.inode === waiter.inode,
  );
  return { waiter, holder: holder ?? null };
}

/** Linux's dev_t split as the kernel encodes it (new_encode_dev), for stat()'s `dev`. */
export function deviceNumbers(dev: bigint): { readonly major: number; readonly minor: number } {
  return {
    major: Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn)),
    minor: Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn)),
  };
}
