import { describe, expect, it } from 'vitest';
import { staticRequestPath } from '../../../src/static/request-path.js';

/** A UTF-8 path as a param value arrives: its bytes as a latin1 string. */
const wire = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

describe('staticRequestPath', () => {
  it('joins SCRIPT_NAME and PATH_INFO (Apache splits the URL path where its filesystem ends)', () => {
    expect(staticRequestPath('/assets', '/v1/app.css')).toEqual({
      ok: true,
      segments: ['assets', 'v1', 'app.css'],
    });
    expect(staticRequestPath('/style.css', undefined)).toEqual({
      ok: true,
      segments: ['style.css'],
    });
  });

  it('keeps names as the web server decoded them: no second decoding', () => {
    expect(staticRequestPath(wire('/a b%20c/é.css'), undefined)).toEqual({
      ok: true,
      segments: ['a b%20c', 'é.css'],
    });
  });

  it('collapses empty and "." segments, which are harmless', () => {
    expect(staticRequestPath('//css/./site.css', '')).toEqual({
      ok: true,
      segments: ['css', 'site.css'],
    });
  });

  it.each([
    ['/../secret.txt', '".." segment'],
    ['/css/../../secret.txt', '".." segment'],
    ['/css/..', '".." segment'],
    ['/%2e%2e/secret.txt', 'encoded'],
    ['/%2E%2e/secret.txt', 'encoded'],
    ['/css%2f..%2f..%2fsecret.txt', 'encoded'],
    ['/css%5c..%5csecret.txt', 'encoded'],
    ['/style.css%00.png', 'encoded'],
    ['/style.css\0.png', 'NUL or control'],
    ['/style.css\r\nX-Sendfile: /etc/passwd', 'NUL or control'],
    ['style.css', 'not an absolute path'],
    ['/', 'no file named'],
    ['/index.php', 'PHP source'],
    ['/admin/config.PHP7', 'PHP source'],
    ['/lib.phar', 'PHP source'],
    ['/index.phps', 'PHP source'],
    ['/includes/db.inc', 'PHP source'],
    ['/.env', 'hidden'],
    ['/.git/config', 'hidden'],
    ['/.htpasswd', 'hidden'],
    ['/assets/.cache/app.js', 'hidden'],
    ['/.well-known/.secret', 'hidden'],
  ])('refuses %j (%s)', (path, reason) => {
    const result = staticRequestPath(path, undefined);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toContain(reason);
  });

  it('serves .well-known, the one hidden directory sites publish', () => {
    expect(staticRequestPath('/.well-known/security.txt', undefined)).toEqual({
      ok: true,
      segments: ['.well-known', 'security.txt'],
    });
  });

  it('refuses ".." arriving in PATH_INFO', () => {
    expect(staticRequestPath('/assets', '/../../etc/passwd').ok).toBe(false);
  });

  it('refuses bytes that are not UTF-8, and paths longer than a file name can be', () => {
    expect(staticRequestPath('/caf\xe9.css', undefined)).toEqual({
      ok: false,
      reason: 'not UTF-8',
    });
    expect(staticRequestPath(`/${'a'.repeat(5000)}.css`, undefined).ok).toBe(false);
  });
});
