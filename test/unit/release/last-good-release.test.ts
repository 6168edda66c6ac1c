import { mkdirSync, realpathSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { DeployRecord } from '../../../src/control/messages.js';
import { hasServed, lastGoodRelease } from '../../../src/release/last-good-release.js';
import { ReleaseHistory } from '../../../src/release/release-history.js';
import { makeTempDir } from '../../support/temp-dir.js';

const temp = makeTempDir('last-good');
afterAll(() => temp.remove());
const base = realpathSync(temp.path);
const releases = join(base, 'releases');
const [A, B, C, GONE] = ['a', 'b', 'c', 'gone'].map((name) => join(releases, name)) as [
  string,
  string,
  string,
  string,
];
for (const dir of [A, B, C]) mkdirSync(dir, { recursive: true });
const outside = join(base, 'outside');
mkdirSync(outside);
const symlink = join(base, 'current');
symlinkSync(C, symlink);

function switched(previous: string, release: string, ok = true): DeployRecord {
  return {
    trigger: 'deploy',
    release,
    previous,
    ok,
    startedAt: '2026-01-01T00:00:00.000Z',
    durationMs: 1000,
    message: ok ? `switched to ${release}` : 'failed',
  };
}

const anywhere = { symlink, root: null };

describe('lastGoodRelease', () => {
  it('is the newest release that served, other than the broken one', () => {
    // a → b succeeded, b → c: the crash left the symlink on c, never recorded.
    expect(lastGoodRelease([switched(A, B)], C, anywhere)).toBe(B);
    // b → c was recorded as a success: c is the broken one now, b served before it.
    expect(lastGoodRelease([switched(A, B), switched(B, C)], C, anywhere)).toBe(B);
  });

  it('skips a failed switch’s target but takes what served during it', () => {
    expect(lastGoodRelease([switched(A, B), switched(B, C, false)], C, anywhere)).toBe(B);
    expect(lastGoodRelease([switched(A, C, false)], C, anywhere)).toBe(A);
  });

  it('skips releases that were removed or lie outside release.root, going further back', () => {
    expect(lastGoodRelease([switched(A, GONE)], C, anywhere)).toBe(A);
    const history = [switched(A, B), switched(B, outside)];
    expect(lastGoodRelease(history, C, { symlink, root: releases })).toBe(B);
    expect(lastGoodRelease(history, C, anywhere)).toBe(outside);
  });

  it('finds one when the symlink leads nowhere, and none in an empty history', () => {
    expect(lastGoodRelease([switched(A, B)], null, anywhere)).toBe(B);
    expect(lastGoodRelease([], C, anywhere)).toBeNull();
    expect(lastGoodRelease([switched(C, C)], C, anywhere)).toBeNull();
  });

  it('never answers the release a recovery went back from', () => {
    // b did not start, the daemon went back to a; then a fails too: b is no answer.
    const history = [switched(A, B), { ...switched(B, A), trigger: 'recovery' as const }];
    expect(lastGoodRelease(history, A, anywhere)).toBeNull();
    expect(lastGoodRelease([switched(C, A), ...history], A, anywhere)).toBe(C);
  });

  it('knows which releases have served', () => {
    const history = [
      switched(A, B),
      switched(B, C, false),
      { ...switched(C, B), trigger: 'recovery' as const },
    ];
    expect(hasServed(history, A)).toBe(true);
    expect(hasServed(history, B)).toBe(true);
    expect(hasServed(history, C)).toBe(false);
  });

  it('never answers a directory that has gone since', () => {
    const late = join(releases, 'late');
    mkdirSync(late);
    const history = [switched(A, late)];
    expect(lastGoodRelease(history, C, anywhere)).toBe(late);
    rmSync(late, { recursive: true });
    expect(lastGoodRelease(history, C, anywhere)).toBe(A);
  });
});

describe('rollback after a recovery', () => {
  it('goes back past the recovery, never to the release that did not start', () => {
    const history = ReleaseHistory.load(join(base, 'state'));
    history.record(switched(A, B));
    history.record({ ...switched(C, B), trigger: 'recovery' });
    expect(history.rollbackTarget(B)).toBe(A);
  });
});
