import { describe, expect, it } from 'vitest';
import type { StaticConfig } from '../../../src/config/config-types.js';
import { redirectLines } from '../../../src/static/internal-redirect.js';

const ACCEL: StaticConfig = {
  header: 'x-accel-redirect',
  documentRoot: 'public',
  internalLocation: '/_switchyard_releases/',
  release: 'serving',
  cookie: 'switchyard_release',
  param: 'SWITCHYARD_STATIC',
};
const SENDFILE: StaticConfig = { ...ACCEL, header: 'x-sendfile', internalLocation: null };

describe('redirectLines', () => {
  it('names the file under the internal location for nginx, without a Content-Type', () => {
    expect(
      redirectLines(ACCEL, '/srv/app/releases', {
        release: '42',
        documentRoot: 'public',
        segments: ['css', 'site.css'],
      }),
    ).toBe('X-Accel-Redirect: /_switchyard_releases/42/public/css/site.css\r\n');
  });

  it('%-encodes each segment, since nginx decodes %XX in the header once', () => {
    expect(
      redirectLines(ACCEL, '/srv/app/releases', {
        release: '2024/42 b',
        documentRoot: 'web/public',
        segments: ['a b%20c?.css', 'é#.png'],
      }),
    ).toBe(
      'X-Accel-Redirect: /_switchyard_releases/2024/42%20b/web/public/a%20b%2520c%3F.css/%C3%A9%23.png\r\n',
    );
  });

  it('names the absolute path for X-Sendfile, with the Content-Type the web server keeps', () => {
    expect(
      redirectLines(SENDFILE, '/srv/app/releases/', {
        release: '42',
        documentRoot: '',
        segments: ['css', 'site.css'],
      }),
    ).toBe(
      'X-Sendfile: /srv/app/releases/42/css/site.css\r\nContent-Type: text/css; charset=utf-8\r\n',
    );
    expect(
      redirectLines(SENDFILE, '/srv/app/releases', {
        release: '42',
        documentRoot: 'public',
        segments: ['font.woff2'],
      }),
    ).toContain('Content-Type: font/woff2\r\n');
    expect(
      redirectLines(SENDFILE, '/srv/app/releases', {
        release: '42',
        documentRoot: 'public',
        segments: ['LICENSE'],
      }),
    ).toContain('Content-Type: application/octet-stream\r\n');
  });

  it('refuses what X-Sendfile cannot name unambiguously (lighttpd decodes %XX, Apache does not)', () => {
    expect(
      redirectLines(SENDFILE, '/srv/app/releases', {
        release: '42',
        documentRoot: 'public',
        segments: ['a%20b.css'],
      }),
    ).toBeNull();
  });
});
