import { mkdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { SessionHasher } from '../../../src/sessions/session-hasher.js';
import { blockedOn } from '../../../src/watchdog/blocked-on.js';
import { deviceNumbers, lockWaitOf, parseProcLocks } from '../../../src/watchdog/proc-locks.js';
import { parseSyscallFile, syscallName } from '../../../src/watchdog/syscall-names.js';
import { makeTempDir } from '../../support/temp-dir.js';

/**
 * Captured on this project's CI machine (x86_64): php-fpm child 22249 blocked in
 * session_start() on the session file child 22250 holds (lock 3); the POSIX read locks are
 * another program's.
 */
const CAPTURED_LOCKS = `1: POSIX  ADVISORY  READ 22249 fe:00:2151152 1 1
2: POSIX  ADVISORY  READ 22251 fe:00:2151152 1 1
3: FLOCK  ADVISORY  WRITE 22250 fe:00:2188413 0 EOF
3: -> FLOCK  ADVISORY  WRITE 22249 fe:00:2188413 0 EOF
4: POSIX  ADVISORY  READ 22250 fe:00:2151152 1 1
`;
/** /proc/22249/syscall and wchan of that child, captured at the same moment. */
const CAPTURED_FLOCK_SYSCALL =
  '73 0x6 0x2 0x7ffdaf803c40 0x1000 0x559ec60fa400 0x7f66f2e00000 0x7ffdaf803c38 0x7f66f58bd897\n';
const CAPTURED_FLOCK_WCHAN = 'locks_lock_inode_wait';
/** An idle php-fpm child, waiting in accept(2). */
const CAPTURED_ACCEPT_SYSCALL =
  '43 0xb 0x7ffdaf807260 0x7ffdaf807258 0x1 0x0 0x0 0x7ffdaf807238 0x7f66f58cf6f0\n';

describe('parseProcLocks', () => {
  it('reads held locks and waiters of a real /proc/locks', () => {
    const locks = parseProcLocks(CAPTURED_LOCKS);
    expect(locks).toHaveLength(5);
    expect(locks[3]).toEqual({
      id: 3,
      waiting: true,
      kind: 'FLOCK',
      access: 'WRITE',
      pid: 22249,
      major: 0xfe,
      minor: 0,
      inode: 2188413n,
    });
    expect(lockWaitOf(locks, 22249)).toEqual({ waiter: locks[3], holder: locks[2] });
    // The holder itself waits for nothing.
    expect(lockWaitOf(locks, 22250)).toBeNull();
  });

  it('skips lines it does not understand', () => {
    expect(parseProcLocks('garbage\n\n1: FLOCK\n')).toEqual([]);
  });

  it('splits a device number as the kernel encodes it', () => {
    // 65024 is fe:00, what stat() gave for the session file above.
    expect(deviceNumbers(65024n)).toEqual({ major: 0xfe, minor: 0 });
    // A minor above 255 is split across the number (new_encode_dev: low byte, major, the rest).
    const dev = 0x45n | (0x3n << 8n) | (0x12300n << 12n);
    expect(deviceNumbers(dev)).toEqual({ major: 0x3, minor: 0x12345 });
  });
});

describe('syscall names', () => {
  it('names the syscalls of stuck PHP workers on x86_64 and arm64', () => {
    expect(syscallName(73, 'x64')).toBe('flock');
    expect(syscallName(230, 'x64')).toBe('clock_nanosleep');
    expect(syscallName(32, 'arm64')).toBe('flock');
    expect(syscallName(999, 'x64')).toBe('syscall 999');
    expect(syscallName(73, 'riscv64')).toBe('syscall 73');
  });

  it('reads /proc/<pid>/syscall', () => {
    expect(parseSyscallFile(CAPTURED_FLOCK_SYSCALL)).toEqual({ kind: 'syscall', number: 73 });
    expect(parseSyscallFile('running\n')).toEqual({ kind: 'running' });
    expect(parseSyscallFile('-1 0x7ffd 0x7f66\n')).toEqual({ kind: 'outside' });
    expect(parseSyscallFile('')).toBeNull();
  });
});

describe('blockedOn (a /proc tree written by the test)', () => {
  const temp = makeTempDir('blocked-on');
  afterAll(() => temp.remove());
  const proc = join(temp.path, 'proc');
  const sessions = join(temp.path, 'sessions');
  mkdirSync(sessions);
  mkdirSync(proc);
  const hasher = new SessionHasher(Buffer.alloc(32, 7));

  /** A process directory with its syscall, wchan and open files (name → target). */
  function processDir(pid: number, syscall: string, wchan: string, fds: Record<string, string>) {
    const dir = join(proc, String(pid));
    mkdirSync(join(dir, 'fd'), { recursive: true });
    writeFileSync(join(dir, 'syscall'), syscall);
    writeFileSync(join(dir, 'wchan'), wchan);
    for (const [fd, target] of Object.entries(fds)) symlinkSync(target, join(dir, 'fd', fd));
  }

  /** The captured lock lines, moved onto `file`'s device and inode. */
  function locksOn(file: string): string {
    const { dev, ino } = statSync(file, { bigint: true });
    const { major, minor } = deviceNumbers(dev);
    const device = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}`;
    return CAPTURED_LOCKS.replaceAll('fe:00:2188413', `${device}:${ino}`);
  }

  it('names a PHP session lock by the hash of its id, never the id', async () => {
    const file = join(sessions, 'sess_Sess1234abcd');
    writeFileSync(file, '');
    writeFileSync(join(proc, 'locks'), locksOn(file));
    processDir(22249, CAPTURED_FLOCK_SYSCALL, CAPTURED_FLOCK_WCHAN, { '6': file });
    const hash = hasher.tag('Sess1234abcd').hash;
    const line = await blockedOn(22249, { sessionHasher: hasher, proc, arch: 'x64' });
    expect(line).toBe(`waiting on PHP session lock ${hash} (held by pid 22250)`);
    expect(line).not.toContain('Sess1234abcd');
    expect(await blockedOn(22249, { sessionHasher: null, proc, arch: 'x64' })).toBe(
      'waiting on PHP session lock unknown (held by pid 22250)',
    );
  });

  it('names another locked file by its path', async () => {
    const file = join(temp.path, 'cron.lock');
    writeFileSync(file, '');
    const otherProc = join(temp.path, 'proc-other');
    mkdirSync(otherProc);
    writeFileSync(join(otherProc, 'locks'), locksOn(file));
    const dir = join(otherProc, '22249');
    mkdirSync(join(dir, 'fd'), { recursive: true });
    writeFileSync(join(dir, 'syscall'), CAPTURED_FLOCK_SYSCALL);
    writeFileSync(join(dir, 'wchan'), CAPTURED_FLOCK_WCHAN);
    symlinkSync(file, join(dir, 'fd', '9'));
    expect(await blockedOn(22249, { sessionHasher: hasher, proc: otherProc, arch: 'x64' })).toBe(
      `waiting on FLOCK WRITE lock on ${file} (held by pid 22250)`,
    );
  });

  it('says what the syscall and wchan say when no lock is waited for', async () => {
    processDir(22251, CAPTURED_ACCEPT_SYSCALL, '__skb_wait_for_more_packets', {});
    expect(await blockedOn(22251, { sessionHasher: hasher, proc, arch: 'x64' })).toBe(
      'in accept (wchan __skb_wait_for_more_packets)',
    );
    processDir(22252, '230 0x1 0x0 0x7ffd 0x0\n', 'hrtimer_nanosleep', {});
    expect(await blockedOn(22252, { sessionHasher: hasher, proc, arch: 'x64' })).toBe(
      'in clock_nanosleep (wchan hrtimer_nanosleep)',
    );
    processDir(22253, 'running\n', '0', {});
    expect(await blockedOn(22253, { sessionHasher: hasher, proc, arch: 'x64' })).toBe(
      'running on a CPU (a busy loop?)',
    );
  });

  it('degrades to what can be read', async () => {
    expect(await blockedOn(1, { sessionHasher: hasher, proc, arch: 'x64' })).toBe(
      'gone: the process has exited',
    );
    // A directory where the syscall file should be: unreadable (EISDIR), wchan missing.
    mkdirSync(join(proc, '22254', 'syscall'), { recursive: true });
    expect(await blockedOn(22254, { sessionHasher: hasher, proc, arch: 'x64' })).toBe(
      'unknown (syscall: EISDIR)',
    );
    expect(
      await blockedOn(22249, { sessionHasher: hasher, proc: join(temp.path, 'none'), arch: 'x64' }),
    ).toBe('gone: the process has exited');
  });
});
