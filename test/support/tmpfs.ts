import { spawnSync } from 'node:child_process';

/** A mounted tmpfs: `unmount()` is safe to call more than once. */
export interface Tmpfs {
  readonly path: string;
  unmount(): void;
}

/**
 * Mounts a tmpfs of `size` (`64k`) on the existing directory `path`, for tests that need a
 * small disk to fill. Needs root (CAP_SYS_ADMIN). Where mounting is not permitted the tests
 * skip, loudly; under CI (the `CI` variable set) that throws instead, as a missing system tool
 * does (system-tools.ts): CI runs as root and must run them.
 */
export function mountTmpfs(path: string, size: string): Tmpfs | undefined {
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', path], {
    encoding: 'utf8',
  });
  if (mounted.status !== 0) {
    const why = `cannot mount a tmpfs on ${path}: ${(mounted.stderr || mounted.error?.message || `exit ${mounted.status}`).trim()}`;
    if (process.env.CI) throw new Error(`${why} (CI is set, so this is a failure, not a skip)`);
    process.stderr.write(`\n*** SKIPPING a test that needs a small tmpfs: ${why} ***\n\n`);
    return undefined;
  }
  let mountedNow = true;
  return {
    path,
    unmount: () => {
      if (!mountedNow) return;
      const result = spawnSync('umount', [path], { encoding: 'utf8' });
      if (result.status !== 0) {
        // Lazily, so a file still open (a daemon being stopped) cannot leave it mounted.
        spawnSync('umount', ['-l', path]);
      }
      mountedNow = false;
    },
  };
}
