import { describe, expect, it } from 'vitest';
import {
  MAX_KNOWN_RELEASES,
  ReleaseCookie,
  releaseId,
} from '../../../src/static/release-cookie.js';

describe('ReleaseCookie', () => {
  it('sets an opaque id, not the path, on every response of a release', () => {
    const cookie = new ReleaseCookie('switchyard_release');
    const line = cookie.lineFor('/srv/app/releases/42').toString();
    const id = releaseId('/srv/app/releases/42');
    expect(id).toMatch(/^[0-9a-f]{12}$/);
    expect(line).toBe(`Set-Cookie: switchyard_release=${id}; Path=/; HttpOnly; SameSite=Lax\r\n`);
    expect(line).not.toContain('releases');
    expect(releaseId('/srv/app/releases/43')).not.toBe(id);
  });

  it('finds the release a request cookie names, among other cookies', () => {
    const cookie = new ReleaseCookie('switchyard_release');
    cookie.lineFor('/srv/app/releases/42');
    const id = releaseId('/srv/app/releases/42');
    expect(cookie.releaseOf(`PHPSESSID=abc; switchyard_release=${id}; theme=dark`)).toBe(
      '/srv/app/releases/42',
    );
    expect(cookie.releaseOf(undefined)).toBeNull();
    expect(cookie.releaseOf('switchyard_release=ffffffffffff')).toBeNull();
    expect(cookie.releaseOf(`other_release=${id}`)).toBeNull();
  });

  it('knows the releases it is given from the start (the history), before any response', () => {
    const cookie = new ReleaseCookie('r', ['/srv/app/releases/41']);
    expect(cookie.releaseOf(`r=${releaseId('/srv/app/releases/41')}`)).toBe('/srv/app/releases/41');
  });

  it('forgets a removed release, and stays bounded by forgetting the oldest', () => {
    const cookie = new ReleaseCookie('r');
    cookie.lineFor('/releases/0');
    cookie.forget('/releases/0');
    expect(cookie.releaseOf(`r=${releaseId('/releases/0')}`)).toBeNull();
    for (let i = 1; i <= MAX_KNOWN_RELEASES + 10; i += 1) cookie.lineFor(`/releases/${i}`);
    expect(cookie.size).toBe(MAX_KNOWN_RELEASES);
    expect(cookie.releaseOf(`r=${releaseId('/releases/1')}`)).toBeNull();
    const newest = `/releases/${MAX_KNOWN_RELEASES + 10}`;
    expect(cookie.releaseOf(`r=${releaseId(newest)}`)).toBe(newest);
  });
});
