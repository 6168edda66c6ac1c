/** Where a request's session id is found: PHP's session.name as a cookie, or a query parameter. */
export interface SessionKeySources {
  readonly cookies: readonly string[];
  readonly params: readonly string[];
}

/**
 * The session id a request carries, the way PHP's session module finds it, or null: the
 * cookies first (in `sources.cookies` order; of cookies with the same name the first one,
 * as PHP's $_COOKIE keeps), then the query parameters (the last of a repeated name, as PHP's
 * $_GET keeps). Values are URL-decoded as PHP decodes them, so `a%2Cb` and `a,b` are one
 * session. An empty value is no session (PHP starts a new one). Input is a latin1 string of
 * the param's bytes; nothing here throws, whatever the client sent.
 */
export function sessionKeyOf(
  cookieHeader: string | undefined,
  queryString: string | undefined,
  sources: SessionKeySources,
): string | null {
  if (cookieHeader !== undefined && sources.cookies.length > 0) {
    const fromCookie = cookieValue(cookieHeader, sources.cookies);
    if (fromCookie !== null) return fromCookie;
  }
  if (queryString !== undefined && sources.params.length > 0) {
    return queryValue(queryString, sources.params);
  }
  return null;
}

/** The first non-empty value among `names`, preferring earlier names; RFC 6265 `; ` pairs. */
function cookieValue(header: string, names: readonly string[]): string | null {
  let best: string | null = null;
  let bestRank = names.length;
  let start = 0;
  // The next '=' at or after `start`, searched again only once passed: one search per piece
  // would scan to the header's end each time, quadratic in a header of bare ';'.
  let eq = -1;
  while (start < header.length) {
    let end = header.indexOf(';', start);
    if (end === -1) end = header.length;
    if (eq < start) eq = header.indexOf('=', start);
    if (eq === -1) break;
    if (eq < end) {
      const rank = names.indexOf(trimmed(header, start, eq));
      // PHP keeps the first cookie of a name; only a better-ranked name replaces it.
      if (rank !== -1 && rank < bestRank) {
        const value = urlDecode(trimmed(header, eq + 1, end));
        if (value !== '') {
          best = value;
          bestRank = rank;
          if (rank === 0) return best;
        }
      }
    }
    start = end + 1;
  }
  return best;
}

/** The last non-empty value among `names`, preferring earlier names; `&`-separated pairs. */
function queryValue(query: string, names: readonly string[]): string | null {
  let best: string | null = null;
  let bestRank = names.length;
  let start = 0;
  let eq = -1;
  while (start < query.length) {
    let end = query.indexOf('&', start);
    if (end === -1) end = query.length;
    if (eq < start) eq = query.indexOf('=', start);
    if (eq === -1) break;
    if (eq < end) {
      const rank = names.indexOf(urlDecode(query.slice(start, eq)));
      if (rank !== -1 && rank <= bestRank) {
        const value = urlDecode(query.slice(eq + 1, end));
        if (value !== '') {
          best = value;
          bestRank = rank;
        }
      }
    }
    start = end + 1;
  }
  return best;
}

function trimmed(text: string, start: number, end: number): string {
  let from = start;
  let to = end;
  while (from < to && isSpace(text.charCodeAt(from))) from += 1;
  while (to > from && isSpace(text.charCodeAt(to - 1))) to -= 1;
  return text.slice(from, to);
}

function isSpace(code: number): boolean {
  return code === 0x20 || code === 0x09;
}

const ESCAPE = /%([0-9A-Fa-f]{2})/g;

/** PHP's urldecode: `+` is a space, `%XX` a byte, a broken escape stays as it is. */
function urlDecode(text: string): string {
  const spaced = text.includes('+') ? text.replaceAll('+', ' ') : text;
  if (!spaced.includes('%')) return spaced;
  return spaced.replace(ESCAPE, (_match, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}
