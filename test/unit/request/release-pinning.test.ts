import { describe, expect, it } from 'vitest';
import { utf8AsLatin1 } from '../../../src/protocol/name-value-pairs.js';
import { makeReleasePinning, pinParams, pinPath } from '../../../src/request/release-pinning.js';

const pinning = makeReleasePinning('/srv/app/current', '/srv/app/releases/42', [
  '/srv/app/releases/41',
  '/srv/app/releases/42',
]);

describe('release pinning', () => {
  it.each([
    ['/srv/app/current/public/index.php', '/srv/app/releases/42/public/index.php'],
    ['/srv/app/current', '/srv/app/releases/42'],
    ['/srv/app/releases/41/public/index.php', '/srv/app/releases/42/public/index.php'],
    ['/srv/app/releases/42/index.php', '/srv/app/releases/42/index.php'],
    // Not under the symlink or a known release: left alone.
    ['/srv/app/current-old/index.php', '/srv/app/current-old/index.php'],
    ['/srv/app/releases/43/index.php', '/srv/app/releases/43/index.php'],
    ['/srv/other-site/index.php', '/srv/other-site/index.php'],
    ['/srv/app/releases/410/index.php', '/srv/app/releases/410/index.php'],
    // Apache proxy_fcgi's default backend type, and doubled slashes: php-fpm strips both.
    [
      'proxy:fcgi://localhost/srv/app/current/index.php',
      'proxy:fcgi://localhost/srv/app/releases/42/index.php',
    ],
    ['//srv/app/current/index.php', '/srv/app/releases/42/index.php'],
    [
      'proxy:fcgi://localhost//srv/app/current/x.php',
      'proxy:fcgi://localhost/srv/app/releases/42/x.php',
    ],
    ['//elsewhere/index.php', '//elsewhere/index.php'],
  ])('%s → %s', (from, to) => {
    expect(pinPath(from, pinning)).toBe(to);
  });

  it('rewrites only path params and returns the same array when nothing changes', () => {
    const pairs = [
      ['SCRIPT_FILENAME', '/srv/app/current/index.php'],
      ['DOCUMENT_ROOT', '/srv/app/current'],
      ['PATH_TRANSLATED', '/srv/app/current/x'],
      ['CONTEXT_DOCUMENT_ROOT', '/srv/app/current'],
      ['REQUEST_URI', '/srv/app/current/index.php'],
    ] as const;
    expect(pinParams(pairs, pinning)).toEqual([
      ['SCRIPT_FILENAME', '/srv/app/releases/42/index.php'],
      ['DOCUMENT_ROOT', '/srv/app/releases/42'],
      ['PATH_TRANSLATED', '/srv/app/releases/42/x'],
      ['CONTEXT_DOCUMENT_ROOT', '/srv/app/releases/42'],
      ['REQUEST_URI', '/srv/app/current/index.php'],
    ]);
    const untouched = [['SCRIPT_FILENAME', '/elsewhere/index.php']] as const;
    expect(pinParams(untouched, pinning)).toBe(untouched);
  });

  it('matches UTF-8 paths in their byte (latin1) form', () => {
    const unicode = makeReleasePinning('/srv/café/current', '/srv/café/releases/1');
    expect(pinPath(utf8AsLatin1('/srv/café/current/ü.php'), unicode)).toBe(
      utf8AsLatin1('/srv/café/releases/1/ü.php'),
    );
  });
});
