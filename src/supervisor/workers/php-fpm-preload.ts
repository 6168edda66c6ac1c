import { resolve } from 'node:path';
import { iniString } from './php-fpm-config.js';

/**
 * `opcache.preload` (and `opcache.preload_user`) from the user's pool directives, as php-fpm
 * command-line settings for one replica's master.
 *
 * php-fpm preloads once, in the master at start-up, before it reads its pools: a
 * `php_admin_value[opcache.preload]` in a pool is accepted and silently does nothing (checked
 * with php-fpm 8.2). Passed with `-d` instead, it takes effect, and each replica's master
 * preloads into its own opcache memory: two releases' versions of one class never meet.
 *
 * The path is resolved inside the replica's pinned release: a relative path from the release
 * directory, and a path through the release symlink as if the symlink pointed at the pinned
 * release (it may still lead to the old release while the new replicas start). Other absolute
 * paths are taken as they are. Run as root, php-fpm refuses to preload without
 * `opcache.preload_user`; the pool's own one is kept, else the pool's `user` is given.
 */
export function preloadSettings(input: {
  /** The user's pool directives (config `phpFpm.pool`), or null. */
  readonly poolDirectives: string | null;
  /** The replica's pinned release directory. */
  readonly release: string;
  /** `release.symlink`: a preload path through it is moved into `release`. */
  readonly symlink: string | null;
  /** The children's user when switchyard runs as root (php-fpm needs a preload user then). */
  readonly runAsUser: string | null;
}): string[] {
  if (input.poolDirectives === null) return [];
  const preload = lastIniValue(input.poolDirectives, 'opcache.preload');
  if (preload === null) return [];
  const settings = [`opcache.preload=${iniString(pinnedPreloadPath(preload, input))}`];
  const user = lastIniValue(input.poolDirectives, 'opcache.preload_user') ?? input.runAsUser;
  if (preload !== '' && user !== null) settings.push(`opcache.preload_user=${iniString(user)}`);
  return settings.flatMap((setting) => ['-d', setting]);
}

function pinnedPreloadPath(
  path: string,
  input: { readonly release: string; readonly symlink: string | null },
): string {
  // Empty turns preloading off (over a php.ini that sets it), as php-fpm reads it.
  if (path === '') return '';
  if (!path.startsWith('/')) return resolve(input.release, path);
  const { symlink } = input;
  if (symlink !== null && path.startsWith(`${symlink}/`)) {
    return resolve(input.release, path.slice(symlink.length + 1));
  }
  return path;
}

/** `php_value[name] = …` or `php_admin_value[name] = …`: the directives php-fpm passes to PHP. */
const PHP_VALUE = /^\s*php_(?:admin_)?value\[\s*([^\]]+?)\s*\]\s*=(.*)$/;

/**
 * The value of the last `php_value`/`php_admin_value` directive for `name` (php-fpm applies
 * them in order, so the last one wins), unquoted as php-fpm's ini scanner reads it: a
 * double-quoted string with `\\`, `\"` and `\$` escapes, a single-quoted one verbatim, or a
 * bare word up to a `;` comment (`none`, `off` and the like read as empty). Null when absent.
 */
export function lastIniValue(directives: string, name: string): string | null {
  let found: string | null = null;
  for (const line of directives.split(/\r?\n/)) {
    const match = PHP_VALUE.exec(line);
    if (match === null || match[1] !== name) continue;
    found = unquoteIniValue((match[2] ?? '').trim());
  }
  return found;
}

/** Bare words php-fpm's ini scanner reads as an empty value. */
const EMPTY_WORDS: ReadonlySet<string> = new Set(['none', 'null', 'off', 'no', 'false']);

function unquoteIniValue(raw: string): string {
  if (raw.startsWith('"')) {
    let value = '';
    for (let i = 1; i < raw.length; i += 1) {
      const char = raw[i] as string;
      if (char === '"') return value;
      if (char === '\\' && i + 1 < raw.length && '\\"$'.includes(raw[i + 1] as string)) {
        i += 1;
        value += raw[i];
      } else {
        value += char;
      }
    }
    return value;
  }
  if (raw.startsWith("'")) {
    const end = raw.indexOf("'", 1);
    return end === -1 ? raw.slice(1) : raw.slice(1, end);
  }
  const bare = (raw.split(';')[0] ?? '').trim();
  return EMPTY_WORDS.has(bare.toLowerCase()) ? '' : bare;
}
