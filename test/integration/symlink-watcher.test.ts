import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, realpathSync, renameSync, symlinkSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/log.js';
import { flipSymlink } from '../../src/release/flip-symlink.js';
import { SymlinkWatcher, type SymlinkWatcherOptions } from '../../src/release/symlink-watcher.js';
import { makeTempDir } from '../support/temp-dir.js';
import { waitFor } from '../support/wait-for.js';

const run = promisify(execFile);
const temp = makeTempDir('watch');
afterAll(() => temp.remove());
const base = realpathSync(temp.path);

let counter = 0;
/** A fresh app directory with releases a..e and `current -> releases/a`. */
function makeApp() {
  counter += 1;
  const dir = join(base, `app${counter}`);
  const release = (name: string) => join(dir, 'releases', name);
  for (const name of ['a', 'b', 'c', 'd', 'e']) mkdirSync(release(name), { recursive: true });
  const link = join(dir, 'current');
  symlinkSync('releases/a', link);
  return { dir, link, release };
}

const open: SymlinkWatcher[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((watcher) => watcher.close()));
});

/** Starts a watcher on `link` that records what it reports, and when. */
async function watchLink(link: string, options: Partial<SymlinkWatcherOptions> = {}) {
  const reports: { release: string; at: number }[] = [];
  const watcher = await SymlinkWatcher.start(
    link,
    (release) => reports.push({ release, at: Date.now() }),
    { logger: silentLogger(), ...options },
  );
  open.push(watcher);
  const released = () => reports.map((report) => report.release);
  return {
    watcher,
    reports,
    released,
    /** Waits until `count` reports have arrived. */
    until: (count: number) =>
      waitFor(() => reports.length >= count, {
        timeoutMs: 5_000,
        what: `${count} report(s) from the watcher (so far: ${JSON.stringify(released())})`,
      }),
  };
}

describe('SymlinkWatcher', () => {
  it('reports `ln -sfn` once, with the new realpath', async () => {
    const { link, release } = makeApp();
    const watched = await watchLink(link);
    const flippedAt = Date.now();
    await run('ln', ['-sfn', 'releases/b', link]);
    await watched.until(1);
    // Then a sentinel flip: had `ln -sfn` been reported twice, that would come before it.
    await run('ln', ['-sfn', 'releases/c', link]);
    await watched.until(2);
    expect(watched.released()).toEqual([release('b'), release('c')]);
    // The debounce (100 ms) and chokidar's own few milliseconds.
    const latency = (watched.reports[0]?.at ?? 0) - flippedAt;
    expect(latency).toBeGreaterThanOrEqual(100);
    expect(latency).toBeLessThan(2_000);
  });

  it('reports a rename-over flip', async () => {
    const { link, release } = makeApp();
    const watched = await watchLink(link);
    flipSymlink(link, release('b'));
    await watched.until(1);
    flipSymlink(link, release('a'));
    await watched.until(2);
    expect(watched.released()).toEqual([release('b'), release('a')]);
  });

  it('reports only where a burst of flips within the debounce ended', async () => {
    const { link, release } = makeApp();
    const watched = await watchLink(link, { debounceMs: 300 });
    // Synchronous, so no timer of this process can fire in the middle of the burst.
    flipSymlink(link, release('b'));
    execFileSync('ln', ['-sfn', 'releases/c', link]);
    flipSymlink(link, release('d'));
    await watched.until(1);
    flipSymlink(link, release('e'));
    await watched.until(2);
    expect(watched.released()).toEqual([release('d'), release('e')]);
  });

  it('reports nothing when the link ends where it was', async () => {
    const { link, release } = makeApp();
    const watched = await watchLink(link, { debounceMs: 300 });
    // Away and back within the debounce; the same target written another way; relinked.
    // Synchronous, so the debounce cannot end before the link is back.
    flipSymlink(link, release('b'));
    flipSymlink(link, release('a'));
    execFileSync('ln', ['-sfn', release('a'), link]);
    unlinkSync(link);
    symlinkSync('releases/a', link);
    // Sentinel: the first report must be this one.
    flipSymlink(link, release('c'));
    await watched.until(1);
    expect(watched.released()).toEqual([release('c')]);
  });

  it('logs a dangling or missing link, ignores it, and reports the next valid flip', async () => {
    const { dir, link, release } = makeApp();
    const warnings: string[] = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => warnings.push(JSON.parse(line).msg as string) },
    );
    const watched = await watchLink(link, { logger });
    flipSymlink(link, join(dir, 'releases', 'not-yet'));
    await waitFor(() => warnings.length >= 1, { timeoutMs: 5_000, what: 'a warning' });
    expect(warnings[0]).toMatch(
      new RegExp(
        `^the release symlink ${link} does not resolve \\(ENOENT: no such file or directory\\)`,
      ),
    );
    unlinkSync(link);
    await run('ln', ['-s', 'releases/b', link]);
    await watched.until(1);
    expect(watched.released()).toEqual([release('b')]);
    expect(warnings).toHaveLength(1);
  });

  it('reports a flip back to the last target after the link dangled in between', async () => {
    // chokidar reports a symlink only when its realpath differs from the one chokidar last
    // saw. Here it saw b, then the link dangled when this watcher looked (so b was never
    // reported), then came back to b: chokidar stays silent, and the poll finds b.
    const { dir, link, release } = makeApp();
    const warnings: string[] = [];
    const logger = pino(
      { level: 'warn' },
      { write: (line: string) => warnings.push(JSON.parse(line).msg as string) },
    );
    const watched = await watchLink(link, { logger, debounceMs: 500, pollMs: 250 });
    // A quick watcher beside it: once it has reported b, chokidar has seen b.
    const quick = await watchLink(link, { debounceMs: 50, pollMs: 0 });
    flipSymlink(link, release('b'));
    await quick.until(1);
    flipSymlink(link, join(dir, 'releases', 'not-yet'));
    // The slow watcher's debounced check has found the link dangling.
    await waitFor(() => warnings.length >= 1, { timeoutMs: 5_000, what: 'a warning' });
    flipSymlink(link, release('b'));
    await watched.until(1);
    expect(watched.released()).toEqual([release('b')]);
    expect(quick.released()).toEqual([release('b')]);
  });

  it('follows a link whose directory is reached through a symlink', async () => {
    const { dir, release } = makeApp();
    const alias = join(base, `alias${counter}`);
    symlinkSync(dir, alias);
    const watched = await watchLink(join(alias, 'current'));
    flipSymlink(join(dir, 'current'), release('b'));
    await watched.until(1);
    expect(watched.released()).toEqual([release('b')]);
  });

  it('reports nothing after close()', async () => {
    const { link, release } = makeApp();
    const closed = await watchLink(link, { debounceMs: 50 });
    // A second watcher with a longer debounce: once it has reported, the closed one would have.
    const control = await watchLink(link, { debounceMs: 300 });
    await closed.watcher.close();
    flipSymlink(link, release('b'));
    await control.until(1);
    expect(control.released()).toEqual([release('b')]);
    expect(closed.released()).toEqual([]);
  });

  it('does not report the link it found at start, nor a stray rename beside it', async () => {
    const { dir, link, release } = makeApp();
    const watched = await watchLink(link);
    mkdirSync(join(dir, 'other'));
    renameSync(join(dir, 'other'), join(dir, 'other2'));
    flipSymlink(join(dir, 'previous'), release('e'));
    flipSymlink(link, release('b'));
    await watched.until(1);
    expect(watched.released()).toEqual([release('b')]);
  });
});
