import { type CgiHttpRequest, cgiParamsFor } from '../protocol/cgi-params.js';
import { type NameValuePair, utf8AsLatin1 } from '../protocol/name-value-pairs.js';
import { type FastCgiParams, pairsOf } from './one-shot-request.js';

/** Switchyard's own request comes from no client: the loopback, with no port. */
const SELF = { remoteAddress: '127.0.0.1', localAddress: '127.0.0.1', localPort: 80 } as const;
const SELF_HEADERS: CgiHttpRequest['headers'] = [
  ['Host', 'localhost'],
  ['User-Agent', 'switchyard-health'],
];

/**
 * The params a web server (nginx with its fastcgi_params) sends for `GET path` against the
 * document root `release`, built as the HTTP front builds them; `extra` replaces or adds
 * params last. `path` starts with `/` and may carry a query string.
 *
 * php-fpm answers its `ping.path` and `pm.status_path` by comparing them with SCRIPT_NAME (the
 * request_uri php-fpm derives from it), never with REQUEST_URI, and only when SCRIPT_FILENAME
 * is present: so SCRIPT_NAME is the path itself, without the query and with no front
 * controller, which also serves a PHP page. Throws HttpRequestError for a path no web server
 * would pass on (a `..` segment, a broken %-escape).
 */
export function requestParamsFor(
  release: string,
  path: string,
  extra: FastCgiParams = {},
): NameValuePair[] {
  if (!path.startsWith('/')) {
    throw new RangeError(`request path ${JSON.stringify(path)} must start with /`);
  }
  const request = {
    method: 'GET',
    url: utf8AsLatin1(path),
    httpVersion: '1.1',
    headers: SELF_HEADERS,
  };
  const params = new Map(
    cgiParamsFor(request, SELF, { documentRoot: release, serverName: 'localhost' }),
  );
  for (const [name, value] of pairsOf(extra)) {
    params.set(name, value);
  }
  return [...params];
}
