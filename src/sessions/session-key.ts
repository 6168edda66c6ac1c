/** Where a request's session id is found: PHP's session.name as a cookie, or a query parameter. */
export interface SessionKeySources {
  readonly cookies: readonly string[];
  readonly params: readonly string[];
}

/**
 * The session id a request carries, the way PHP's request parsing finds it, or null: the
 * cookies first (in `sources.cookies` order; of cookies with the same name the first one, as
 * PHP's $_COOKIE keeps), then the query parameters (the last of a repeated name, as PHP's
 * $_GET keeps). Cookie values are %-decoded as PHP decodes them (`+` stays `+`), query ones
 * also with `+` as a space, so `a%2Cb` and `a,b` are one session. An empty value is no
 * session (PHP starts a new one). Input is a latin1 string of the param's bytes; nothing here
 * throws, whatever the client sent.
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

/**
 * The value of the best-ranked name present, by its first cookie, as PHP's cookie parsing:
 * pairs split on `;`, spaces before a name skipped, nothing else trimmed (`PHPSESSID =x` is
 * another name to PHP).
 */
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
      const rank = names.indexOf(header.slice(afterSpaces(header, start, eq), eq));
      // PHP keeps the first cookie of a name (an empty one too: a new session then); only a
      // better-ranked name replaces it.
      if (rank !== -1 && rank < bestRank) {
        const value = rawUrlDecode(header.slice(eq + 1, end));
        best = value === '' ? null : value;
        bestRank = rank;
        if (rank === 0) return best;
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

/** Where a cookie name starts: PHP skips white space after the `;`. */
function afterSpaces(text: string, start: number, end: number): number {
  let at = start;
  while (at < end && isSpace(text.charCodeAt(at))) at += 1;
  return at;
}

/** C's isspace, which PHP uses there: space, \t, \n, \v, \f, \r. */
function isSpace(code: number): boolean {
  return code === 0x20 || (code >= 0x09 && code <= 0x0d);
}

const ESCAPE = /%([0-9A-Fa-f]{2})/g;

/** PHP's rawurldecode: `%XX` a byte, a broken escape stays as it is. */
function rawUrlDecode(text: string): string {
  if (!text.includes('%')) return text;
  return text.replace(ESCAPE, (_match, hex: string) =>
    String.fromCharCode(Number.parseInt(hex, 16)),
  );
}

/** PHP's urldecode: rawurldecode, and `+` is a space. */
function urlDecode(text: string): string {
  return rawUrlDecode(text.includes('+') ? text.replaceAll('+', ' ') : text);
}
