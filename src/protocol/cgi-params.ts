import { CodedError } from '../coded-error.js';
import type { NameValuePair } from './name-value-pairs.js';
import { utf8AsLatin1 } from './name-value-pairs.js';

/** The parts of an HTTP request that CGI params are made of; strings as node gives them (latin1). */
export interface CgiHttpRequest {
  readonly method: string;
  /** The raw request-target: origin form (`/a/b?q`), or absolute form (`http://host/a?q`). */
  readonly url: string;
  /** `1.1`, `1.0`. */
  readonly httpVersion: string;
  /** Header lines in order, repeats included: pairs from node's `rawHeaders`. */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  /**
   * The length of a body sent without Content-Length (chunked), once the front has read it
   * whole: CGI applications such as PHP read CONTENT_LENGTH bytes and no more.
   */
  readonly bodyLength?: number;
}

export interface CgiConnection {
  readonly remoteAddress: string;
  /** Absent for a request switchyard makes itself (no client, no port): no REMOTE_PORT. */
  readonly remotePort?: number;
  readonly localAddress: string;
  readonly localPort: number;
}

/** The site the HTTP front serves, as nginx's `root` and front-controller `index`. */
export interface CgiSite {
  /** The release symlink path, e.g. /srv/app/current (text; sent as its UTF-8 bytes). */
  readonly documentRoot: string;
  /**
   * The front controller every non-`.php` path runs, e.g. `index.php`. Absent, every path is
   * its own script (php-fpm's ping.path is no file, and a warm-up path names its page).
   */
  readonly index?: string;
  /** SERVER_NAME; the Host header's name when absent. */
  readonly serverName?: string;
}

export type HttpRequestErrorCode =
  /** A path with a `..` segment, a NUL, or a broken %-escape: 400. */
  | 'ERR_HTTP_BAD_PATH'
  /** A request-target that is neither origin nor absolute form (`*`, `host:port`): 400. */
  | 'ERR_HTTP_BAD_TARGET';

export class HttpRequestError extends CodedError<HttpRequestErrorCode> {
  override readonly name = 'HttpRequestError';
}

/** Header names that never become HTTP_* params. Proxy: httpoxy (CVE-2016-5385). */
const SKIPPED_HEADERS = new Set(['proxy']);
/** Others (`X_Forwarded`, `X.Y`) would collide with or spoof a legitimate name, as in nginx. */
const VALID_HEADER_NAME = /^[A-Za-z0-9-]+$/;
const ABSOLUTE_FORM = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

/**
 * CGI/1.1 params (RFC 3875) for an HTTP request, as nginx's fastcgi_params with a front
 * controller and no try_files: a path ending in `.php` runs that script, any other path runs
 * `index` (or itself, without one). Every value is a latin1 string (bytes, see name-value-pairs.ts). Throws
 * HttpRequestError for a target that must be answered 400.
 */
export function cgiParamsFor(
  request: CgiHttpRequest,
  connection: CgiConnection,
  site: CgiSite,
): NameValuePair[] {
  const uri = originForm(request.url);
  const q = uri.indexOf('?');
  const rawPath = q === -1 ? uri : uri.slice(0, q);
  const query = q === -1 ? '' : uri.slice(q + 1);
  const path = normalisePath(rawPath);
  const script =
    site.index === undefined || path.endsWith('.php')
      ? path
      : `/${utf8AsLatin1(site.index).replace(/^\/+/, '')}`;
  const documentRoot = utf8AsLatin1(site.documentRoot).replace(/(.)\/+$/, '$1');
  const headers = httpHeaderParams(request.headers);
  const contentType = headerValue(headers, 'HTTP_CONTENT_TYPE');
  const contentLength =
    headerValue(headers, 'HTTP_CONTENT_LENGTH') ??
    (request.bodyLength === undefined ? undefined : String(request.bodyLength));
  const serverAddress = plainAddress(connection.localAddress);
  const params: NameValuePair[] = [
    ['GATEWAY_INTERFACE', 'CGI/1.1'],
    ['SERVER_SOFTWARE', 'switchyard'],
    ['SERVER_PROTOCOL', `HTTP/${request.httpVersion}`],
    ['REQUEST_SCHEME', 'http'],
    ['REQUEST_METHOD', request.method],
    ['REQUEST_URI', uri],
    ['QUERY_STRING', query],
    ['DOCUMENT_URI', script],
    ['SCRIPT_NAME', script],
    ['SCRIPT_FILENAME', documentRoot + script],
    ['DOCUMENT_ROOT', documentRoot],
    ['PATH_INFO', ''],
  ];
  if (contentType !== undefined) params.push(['CONTENT_TYPE', contentType]);
  if (contentLength !== undefined) params.push(['CONTENT_LENGTH', contentLength]);
  params.push(['REMOTE_ADDR', plainAddress(connection.remoteAddress)]);
  if (connection.remotePort !== undefined) {
    params.push(['REMOTE_PORT', String(connection.remotePort)]);
  }
  params.push(
    ['SERVER_ADDR', serverAddress],
    ['SERVER_PORT', String(connection.localPort)],
    ['SERVER_NAME', serverName(site, headerValue(headers, 'HTTP_HOST'), serverAddress)],
    ['REDIRECT_STATUS', '200'],
  );
  for (const pair of headers) params.push(pair);
  return params;
}

/** Pairs from node's flat `rawHeaders` ([name, value, name, value, ...]). */
export function headerPairs(rawHeaders: readonly string[]): Array<readonly [string, string]> {
  const pairs: Array<readonly [string, string]> = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    pairs.push([rawHeaders[i] as string, rawHeaders[i + 1] as string]);
  }
  return pairs;
}

/** `/path?query` from either request-target form a server must accept (RFC 9112 3.2). */
function originForm(target: string): string {
  if (target.startsWith('/')) return target;
  const absolute = ABSOLUTE_FORM.exec(target);
  if (absolute !== null) {
    const rest = target.slice(absolute[0].length);
    return rest.startsWith('/') ? rest : `/${rest}`;
  }
  throw new HttpRequestError(
    'ERR_HTTP_BAD_TARGET',
    `request-target ${JSON.stringify(target.slice(0, 100))} is not a path`,
  );
}

/**
 * The %-decoded path (a latin1 string of its bytes, so UTF-8 stays byte-exact) with slashes
 * merged and `.` segments dropped, as nginx's $uri. A `..` segment is refused rather than
 * resolved: no request can name a file outside the document root.
 */
function normalisePath(raw: string): string {
  const decoded = percentDecode(raw);
  if (decoded.includes('\0')) throw badPath(raw, 'contains a NUL byte');
  const segments: string[] = [];
  for (const segment of decoded.split('/')) {
    if (segment === '..') throw badPath(raw, 'has a .. segment');
    if (segment !== '' && segment !== '.') segments.push(segment);
  }
  const trailing = segments.length > 0 && /\/\.?$/.test(decoded) ? '/' : '';
  return `/${segments.join('/')}${trailing}`;
}

function percentDecode(raw: string): string {
  if (!raw.includes('%')) return raw;
  return raw.replace(/%([0-9A-Fa-f]{2})|%/g, (match, hex: string | undefined) => {
    if (hex === undefined) throw badPath(raw, `has a broken escape at ${JSON.stringify(match)}`);
    return String.fromCharCode(Number.parseInt(hex, 16));
  });
}

function badPath(raw: string, why: string): HttpRequestError {
  return new HttpRequestError(
    'ERR_HTTP_BAD_PATH',
    `path ${JSON.stringify(raw.slice(0, 100))} ${why}`,
  );
}

/**
 * Request headers as HTTP_* params, in order of first appearance. Repeats are joined as a
 * server joins list headers; Cookie with `; ` (RFC 6265 5.4), which PHP splits on.
 */
function httpHeaderParams(
  headers: ReadonlyArray<readonly [name: string, value: string]>,
): NameValuePair[] {
  const values = new Map<string, string>();
  for (const [name, value] of headers) {
    if (!VALID_HEADER_NAME.test(name) || SKIPPED_HEADERS.has(name.toLowerCase())) continue;
    const param = `HTTP_${name.toUpperCase().replaceAll('-', '_')}`;
    const previous = values.get(param);
    if (previous === undefined) values.set(param, value);
    else values.set(param, `${previous}${param === 'HTTP_COOKIE' ? '; ' : ', '}${value}`);
  }
  return [...values];
}

function headerValue(pairs: readonly NameValuePair[], param: string): string | undefined {
  return pairs.find(([name]) => name === param)?.[1];
}

function serverName(site: CgiSite, host: string | undefined, serverAddress: string): string {
  if (site.serverName !== undefined) return utf8AsLatin1(site.serverName);
  if (host === undefined || host === '') return serverAddress;
  // `[::1]:8080` keeps its brackets; `example.com:8080` loses the port.
  const name = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.split(':')[0];
  return name === undefined || name === '' ? serverAddress : name.toLowerCase();
}

/** `::ffff:127.0.0.1` (an IPv4 client of a dual-stack socket) as the `127.0.0.1` it is. */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}
