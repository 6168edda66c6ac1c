import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { StaticConfig } from '../../../src/config/config-types.js';
import { parseConfig } from '../../../src/config/load-config.js';
import { configRefusal } from '../../support/config-refusal.js';
import { repoRoot } from '../../support/repo-root.js';

const BASE = `
[listen]
fastcgi = "unix:/run/switchyard/app.sock"

[replicas]
kind = "external"
addresses = ["unix:/run/php/a.sock", "unix:/run/php/b.sock"]
`;

const RELEASE = '[release]\nsymlink = "/srv/app/current"\nroot = "/srv/app/releases"\n';

function staticTable(table: string, release = RELEASE): StaticConfig | null {
  return parseConfig(`${BASE}${release}\n[static]\n${table}\n`, '/etc/switchyard').static;
}

function refusal(table: string, release = RELEASE): { key: string; reason: string } {
  return configRefusal(() => staticTable(table, release));
}

describe('[static]', () => {
  it('is off without the table', () => {
    expect(parseConfig(`${BASE}${RELEASE}`, '/etc/switchyard').static).toBeNull();
  });

  it('needs only the header: the serving release, the release itself as document root', () => {
    expect(staticTable('header = "x-accel-redirect"')).toEqual<StaticConfig>({
      header: 'x-accel-redirect',
      documentRoot: '',
      internalLocation: '/_switchyard_releases/',
      release: 'serving',
      cookie: 'switchyard_release',
      param: 'SWITCHYARD_STATIC',
    });
    expect(staticTable('header = "x-sendfile"')?.internalLocation).toBeNull();
  });

  it('reads every key, and normalises the document root', () => {
    expect(
      staticTable(
        [
          'header = "x-accel-redirect"',
          'document_root = "./web//public/"',
          'internal_location = "/_releases/"',
          'release = "cookie"',
          'cookie = "asset_release"',
          'param = "STATIC_FILE"',
        ].join('\n'),
      ),
    ).toEqual<StaticConfig>({
      header: 'x-accel-redirect',
      documentRoot: 'web/public',
      internalLocation: '/_releases/',
      release: 'cookie',
      cookie: 'asset_release',
      param: 'STATIC_FILE',
    });
  });

  it('requires release.root: redirects name files relative to it', () => {
    const { key, reason } = refusal(
      'header = "x-sendfile"',
      '[release]\nsymlink = "/srv/app/current"\n',
    );
    expect(key).toBe('release.root');
    expect(reason).toContain('required with [static]');
  });

  it('names the key of a bad value', () => {
    expect(refusal('').key).toBe('static.header');
    expect(refusal('header = "x-lighttpd-send-file"')).toMatchObject({
      key: 'static.header',
      reason: expect.stringContaining('"x-accel-redirect", "x-sendfile"'),
    });
    expect(refusal('header = "x-sendfile"\nrelease = "client"').key).toBe('static.release');
    expect(refusal('header = "x-sendfile"\nhedaer = 1')).toMatchObject({
      key: 'static.hedaer',
      reason: expect.stringContaining('known keys: header, document_root'),
    });
  });

  it('refuses a document root outside the release', () => {
    for (const root of ['/srv/app/public', '../shared/public', 'public/../../x']) {
      expect(refusal(`header = "x-sendfile"\ndocument_root = "${root}"`).key).toBe(
        'static.document_root',
      );
    }
  });

  it('refuses an internal location nginx could not match as written', () => {
    for (const location of ['_releases/', '/_releases', '/a b/', '/a%20b/', '/../x/', '/']) {
      expect(refusal(`header = "x-accel-redirect"\ninternal_location = "${location}"`).key).toBe(
        'static.internal_location',
      );
    }
  });

  it('refuses an internal location with X-Sendfile, which names absolute paths', () => {
    const { key, reason } = refusal('header = "x-sendfile"\ninternal_location = "/_r/"');
    expect(key).toBe('static.internal_location');
    expect(reason).toContain('only for header = "x-accel-redirect"');
  });

  it('refuses a param a client or the web server sets on every request', () => {
    for (const param of ['HTTP_X_STATIC', 'http_static', 'SCRIPT_NAME', 'REQUEST_URI', 'A-B']) {
      expect(refusal(`header = "x-sendfile"\nparam = "${param}"`).key).toBe('static.param');
    }
    expect(refusal('header = "x-sendfile"\nparam = "HTTP_STATIC"').reason).toContain(
      'every request would count as static',
    );
  });

  it('refuses a cookie name that is not a token', () => {
    expect(refusal('header = "x-sendfile"\ncookie = "a b"').key).toBe('static.cookie');
  });

  it("refuses a cookie name that is the application's session cookie: every answer would replace it", () => {
    expect(
      refusal('header = "x-sendfile"\nrelease = "cookie"\ncookie = "PHPSESSID"'),
    ).toMatchObject({
      key: 'static.cookie',
      reason: expect.stringContaining('session'),
    });
    const withSessions = `${RELEASE}\n[sessions]\ncookies = ["SID", "LEGACYSID"]\n`;
    expect(
      refusal('header = "x-sendfile"\nrelease = "cookie"\ncookie = "LEGACYSID"', withSessions),
    ).toMatchObject({ key: 'static.cookie', reason: expect.stringContaining('[sessions]') });
    expect(staticTable('header = "x-sendfile"\nrelease = "cookie"', withSessions)?.cookie).toBe(
      'switchyard_release',
    );
  });

  it('is what deploy/switchyard.toml documents, commented out there, once uncommented', () => {
    const shipped = readFileSync(join(repoRoot, 'deploy/switchyard.toml'), 'utf8');
    const table = shipped
      .slice(shipped.indexOf('# [static]'))
      .split('\n')
      .filter((line) => /^# ([a-z_]+ = .*)$/.test(line))
      .map((line) => line.slice(2));
    expect(table[0]).toBe('header = "x-accel-redirect"');
    expect(staticTable(table.join('\n'))).toEqual<StaticConfig>({
      header: 'x-accel-redirect',
      documentRoot: 'public',
      internalLocation: '/_switchyard_releases/',
      release: 'serving',
      cookie: 'switchyard_release',
      param: 'SWITCHYARD_STATIC',
    });
  });
});
