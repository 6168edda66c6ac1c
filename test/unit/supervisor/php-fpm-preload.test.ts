import { describe, expect, it } from 'vitest';
import { lastIniValue, preloadSettings } from '../../../src/supervisor/workers/php-fpm-preload.js';

const RELEASE = '/srv/app/releases/42';
const SYMLINK = '/srv/app/current';

function settings(poolDirectives: string | null, runAsUser: string | null = null): string[] {
  return preloadSettings({ poolDirectives, release: RELEASE, symlink: SYMLINK, runAsUser });
}

describe('preloadSettings', () => {
  it('passes nothing without a pool file or without opcache.preload in it', () => {
    expect(settings(null)).toEqual([]);
    expect(settings('pm.max_requests = 500\nphp_admin_value[memory_limit] = 256M\n')).toEqual([]);
  });

  it('resolves a relative path inside the pinned release', () => {
    expect(settings('php_admin_value[opcache.preload] = config/preload.php\n')).toEqual([
      '-d',
      `opcache.preload="${RELEASE}/config/preload.php"`,
    ]);
  });

  it('moves a path through the release symlink into the pinned release', () => {
    // The symlink may still lead to the old release while the new replicas start.
    expect(settings(`php_admin_value[opcache.preload] = ${SYMLINK}/preload.php`)).toEqual([
      '-d',
      `opcache.preload="${RELEASE}/preload.php"`,
    ]);
    // Only the symlink itself, not a sibling that starts with its name.
    expect(settings('php_value[opcache.preload] = /srv/app/current-shared/preload.php')).toEqual([
      '-d',
      'opcache.preload="/srv/app/current-shared/preload.php"',
    ]);
  });

  it('takes another absolute path as it is', () => {
    expect(settings('php_admin_value[opcache.preload] = /opt/shared/preload.php')).toEqual([
      '-d',
      'opcache.preload="/opt/shared/preload.php"',
    ]);
  });

  it('gives the children user as opcache.preload_user when run as root, unless the pool sets one', () => {
    expect(settings('php_admin_value[opcache.preload] = preload.php', 'www-data')).toEqual([
      '-d',
      `opcache.preload="${RELEASE}/preload.php"`,
      '-d',
      'opcache.preload_user="www-data"',
    ]);
    const own = [
      'php_admin_value[opcache.preload] = preload.php',
      'php_admin_value[opcache.preload_user] = app',
    ].join('\n');
    expect(settings(own, 'www-data')).toContain('opcache.preload_user="app"');
    expect(settings(own, null)).toContain('opcache.preload_user="app"');
  });

  it('passes an empty preload on (it turns off one set in php.ini) without a preload user', () => {
    expect(settings('php_admin_value[opcache.preload] = ""', 'www-data')).toEqual([
      '-d',
      'opcache.preload=""',
    ]);
  });

  it('quotes the path for the ini parser php-fpm reads -d with', () => {
    const release = '/srv/app/releases/a;b "c" $d';
    expect(
      preloadSettings({
        poolDirectives: 'php_admin_value[opcache.preload] = preload.php',
        release,
        symlink: null,
        runAsUser: null,
      }),
    ).toEqual(['-d', 'opcache.preload="/srv/app/releases/a;b \\"c\\" \\$d/preload.php"']);
  });
});

describe('lastIniValue', () => {
  it('reads php_value and php_admin_value, the last one winning', () => {
    const text = [
      'php_value[opcache.preload] = first.php',
      '; php_admin_value[opcache.preload] = commented.php',
      '  php_admin_value[ opcache.preload ]=second.php  ',
      'php_admin_value[opcache.preload_user] = www-data',
    ].join('\r\n');
    expect(lastIniValue(text, 'opcache.preload')).toBe('second.php');
    expect(lastIniValue(text, 'opcache.preload_user')).toBe('www-data');
    expect(lastIniValue(text, 'opcache.jit')).toBeNull();
  });

  it('unquotes as the ini scanner does', () => {
    const read = (value: string) =>
      lastIniValue(`php_admin_value[opcache.preload] = ${value}`, 'opcache.preload');
    expect(read('"/a b/c\\"d\\\\e\\$f.php" ; comment')).toBe('/a b/c"d\\e$f.php');
    expect(read("'/a;b/\\c.php'")).toBe('/a;b/\\c.php');
    expect(read('/a/b.php ; comment')).toBe('/a/b.php');
    expect(read('none')).toBe('');
    expect(read('')).toBe('');
  });
});
