import { describe, expect, it } from 'vitest';
import { KnownReleases, MAX_KNOWN_RELEASES } from '../../../src/supervisor/known-releases.js';

const release = (n: number) => `/srv/app/releases/${n}`;

describe('KnownReleases', () => {
  it('forgets the oldest past the limit, but never one in use', () => {
    const known = new KnownReleases();
    const inUse = (candidate: string) => candidate === release(1);
    for (let n = 1; n <= MAX_KNOWN_RELEASES + 2; n += 1) known.remember(release(n), inUse);
    expect(known.all.size).toBe(MAX_KNOWN_RELEASES);
    expect(known.has(release(1))).toBe(true);
    expect(known.has(release(2))).toBe(false);
    expect(known.has(release(3))).toBe(false);
    expect(known.has(release(MAX_KNOWN_RELEASES + 2))).toBe(true);
  });

  it('a release remembered again becomes the newest', () => {
    const known = new KnownReleases();
    const none = () => false;
    for (let n = 1; n <= MAX_KNOWN_RELEASES; n += 1) known.remember(release(n), none);
    known.remember(release(1), none);
    known.remember(release(99), none);
    expect(known.has(release(1))).toBe(true);
    expect(known.has(release(2))).toBe(false);
    expect([...known.all].at(-1)).toBe(release(99));
  });
});
