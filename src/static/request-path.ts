/** The file a static request names, under the document root, or why it is refused. */
export type StaticPath =
  | { readonly ok: true; readonly segments: readonly string[] }
  | { readonly ok: false; readonly reason: string };

/** PATH_MAX: no file has a longer name. */
const MAX_PATH_BYTES = 4096;

/** %2e %2f %5c %00: what a decoded path never holds unless it was encoded twice. */
const ENCODED_SEPARATOR = /%(2e|2f|5c|00)/i;

/** Bytes that would end or split a header line, or that no file name of a site holds. */
const CONTROL = /[\p{Cc}]/u;

/**
 * The application's source: never handed over as a file, whatever the web server's config.
 * `.phps` is PHP's name for a source listing, `.inc` the classic name of an included file
 * (database passwords) that web servers serve as text.
 */
const PHP_SOURCE = /\.(php\d*|phtml|phar|phps|inc)$/i;

/**
 * A hidden file or directory (`.env`, `.git`, `.htpasswd`) other than the `.well-known` that
 * sites publish: a release holds them, no page links them, and a web server's own rule against
 * them (nginx's `location ~ /\.`) does not see the path the redirect names.
 */
const HIDDEN = /^\.(?!well-known$)/;

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The path a static request names, from SCRIPT_NAME + PATH_INFO as the web server sends them:
 * %-decoded and normalised by it (RFC 3875; nginx's $uri, Apache's and lighttpd's own split
 * of the URL path into the two). It is not decoded again (a file named `a%20b.css` is
 * requested as `/a%2520b.css`); what a web server never sends is refused instead of repaired,
 * since it comes from a client talking FastCGI to switchyard directly, or from a web server
 * config that passes the raw URI: `..` segments, encoded dots and slashes (`%2e%2e`, `%2f`),
 * NUL and other control bytes, bytes that are not UTF-8; and what no page links: hidden files
 * and PHP sources. Values are the params' bytes as latin1 strings.
 */
export function staticRequestPath(
  scriptName: string | undefined,
  pathInfo: string | undefined,
): StaticPath {
  const raw = `${scriptName ?? ''}${pathInfo ?? ''}`;
  if (raw.length > MAX_PATH_BYTES) return refused('longer than a file name can be');
  let path: string;
  try {
    path = UTF8.decode(Buffer.from(raw, 'latin1'));
  } catch {
    return refused('not UTF-8');
  }
  if (!path.startsWith('/')) return refused('not an absolute path');
  if (CONTROL.test(path)) return refused('a NUL or control byte');
  if (ENCODED_SEPARATOR.test(path))
    return refused('an encoded dot, slash or NUL (%2e, %2f, %5c, %00)');
  const segments = path.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) return refused('a ".." segment');
  if (segments.length === 0) return refused('no file named');
  if (segments.some((segment) => HIDDEN.test(segment))) {
    return refused('a hidden file or directory (.env, .git)');
  }
  if (PHP_SOURCE.test(segments[segments.length - 1] as string)) return refused('a PHP source file');
  return { ok: true, segments };
}

function refused(reason: string): StaticPath {
  return { ok: false, reason };
}
