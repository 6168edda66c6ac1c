import { describe, expect, it } from 'vitest';
import { makeReleasePinning } from '../../../src/request/release-pinning.js';
import { KnownReleases, MAX_KNOWN_RELEASES } from '../../../src/supervisor/known-releases.js';

const release = (n: number) => `/srv/app/releases/${n}`;

describe('KnownReleases', () => {
  it('forgets the oldest past the limit, but never one in use', () => {
    const known = new KnownReleases({
      inUse: (candidate) => candidate === release(1),
      pinnings: () => [],
    });
    for (let n = 1; n <= MAX_KNOWN_RELEASES + 2; n += 1) known.remember(release(n));
    expect(known.all.size).toBe(MAX_KNOWN_RELEASES);
    expect(known.has(release(1))).toBe(true);
    expect(known.has(release(2))).toBe(false);
    expect(known.has(release(3))).toBe(false);
    expect(known.has(release(MAX_KNOWN_RELEASES + 2))).toBe(true);
  });

  it('a release remembered again becomes the newest', () => {
    const known = new KnownReleases({ inUse: () => false, pinnings: () => [] });
    for (let n = 1; n <= MAX_KNOWN_RELEASES; n += 1) known.remember(release(n));
    known.remember(release(1));
    known.remember(release(99));
    expect(known.has(release(1))).toBe(true);
    expect(known.has(release(2))).toBe(false);
    expect([...known.all].at(-1)).toBe(release(99));
  });

  it('know teaches every running pinning a new release once, and an old one not again', () => {
    const pinning = makeReleasePinning('/srv/app/current', release(1));
    const known = new KnownReleases({ inUse: () => false, pinnings: () => [pinning] });
    known.remember(release(1));
    known.know(release(2));
    expect(pinning.knownReleaseDirs.has(release(2))).toBe(true);
    (pinning.knownReleaseDirs as Set<string>).delete(release(2));
    known.know(release(2));
    expect(pinning.knownReleaseDirs.has(release(2))).toBe(false);
    expect(known.has(release(2))).toBe(true);
  });
});
