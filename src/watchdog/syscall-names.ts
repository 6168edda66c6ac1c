/**
 * The syscalls a stuck PHP worker is usually found in, by number, per architecture (the
 * numbers differ: x86_64 has its own table, arm64 the generic one). A short list on purpose:
 * any other number is shown as `syscall N`.
 */
const X86_64: Readonly<Record<number, string>> = {
  0: 'read',
  1: 'write',
  7: 'poll',
  23: 'select',
  35: 'nanosleep',
  42: 'connect',
  43: 'accept',
  44: 'sendto',
  45: 'recvfrom',
  47: 'recvmsg',
  61: 'wait4',
  72: 'fcntl',
  73: 'flock',
  202: 'futex',
  // A sleep or wait resumed after a stop (php-fpm's slow log stops a child to trace it).
  219: 'restart_syscall',
  230: 'clock_nanosleep',
  232: 'epoll_wait',
  270: 'pselect6',
  271: 'ppoll',
  281: 'epoll_pwait',
  288: 'accept4',
};

const ARM64: Readonly<Record<number, string>> = {
  22: 'epoll_pwait',
  25: 'fcntl',
  32: 'flock',
  63: 'read',
  64: 'write',
  72: 'pselect6',
  73: 'ppoll',
  98: 'futex',
  101: 'nanosleep',
  115: 'clock_nanosleep',
  128: 'restart_syscall',
  202: 'accept',
  203: 'connect',
  206: 'sendto',
  207: 'recvfrom',
  212: 'recvmsg',
  242: 'accept4',
  260: 'wait4',
};

const TABLES: Readonly<Record<string, Readonly<Record<number, string>>>> = {
  x64: X86_64,
  arm64: ARM64,
};

/** `flock`, or `syscall 999` for a number not in the table (or an architecture without one). */
export function syscallName(number: number, arch: string = process.arch): string {
  return TABLES[arch]?.[number] ?? `syscall ${number}`;
}

/** Whether `name` waits for a file lock (so /proc/locks should say which). */
export function isLockSyscall(name: string): boolean {
  return name === 'flock' || name === 'fcntl';
}

/** What /proc/<pid>/syscall says: in a syscall, running, or blocked outside one. */
export type SyscallState =
  | { readonly kind: 'syscall'; readonly number: number }
  | { readonly kind: 'running' }
  | { readonly kind: 'outside' };

/**
 * `73 0x6 0x2 …` (in syscall 73), `running`, or `-1 <sp> <pc>` (blocked, not in a syscall: a
 * page fault, a stop); null for what it does not recognise.
 */
export function parseSyscallFile(text: string): SyscallState | null {
  const first = text.trim().split(/\s+/, 1)[0] ?? '';
  if (first === 'running') return { kind: 'running' };
  if (first === '-1') return { kind: 'outside' };
  if (/^\d+$/.test(first)) return { kind: 'syscall', number: Number(first) };
  return null;
}
