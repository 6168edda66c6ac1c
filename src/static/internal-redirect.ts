import { contentType } from 'mime-types';
import type { StaticConfig } from '../config/config-types.js';

/** A file inside a release, as the redirect names it. */
export interface ReleaseFile {
  /** The release directory relative to release.root (`42`, `2024/42`). */
  readonly release: string;
  /** The document root inside the release (`public`, `web/public`, '' for none). */
  readonly documentRoot: string;
  /** The request's path segments under the document root. */
  readonly segments: readonly string[];
}

/** `%XX` sequences: lighttpd decodes them in X-Sendfile, Apache's mod_xsendfile 0.12 does not. */
const PERCENT_ESCAPE = /%[0-9A-Fa-f]{2}/;

/**
 * The header lines that hand `file` over to the web server, or null when this header cannot
 * name it unambiguously.
 *
 * - X-Accel-Redirect: the internal location's prefix, then the path under release.root, each
 *   segment %-encoded: nginx decodes %XX in it once (and refuses `..` and NUL after decoding),
 *   then serves it by the location's alias, with its own types, ranges and caching headers.
 *   No Content-Type: nginx would take ours over its own `types`.
 * - X-Sendfile: the absolute path (release.root as configured, so it matches the web server's
 *   XSendFilePath / x-sendfile-docroot textually). Its bytes as they are, since the servers
 *   disagree on decoding; a name with a `%XX` in it is therefore refused. With a Content-Type:
 *   mod_xsendfile keeps the backend's (Apache's own may come from another path when the
 *   request's directory does not exist in `current`), lighttpd takes it too.
 */
export function redirectLines(
  config: StaticConfig,
  releaseRoot: string,
  file: ReleaseFile,
): string | null {
  const path = [
    ...file.release.split('/'),
    ...(file.documentRoot === '' ? [] : file.documentRoot.split('/')),
    ...file.segments,
  ];
  if (config.internalLocation !== null) {
    return `X-Accel-Redirect: ${config.internalLocation}${path.map(encodeURIComponent).join('/')}\r\n`;
  }
  const absolute = `${releaseRoot.replace(/\/+$/, '')}/${path.join('/')}`;
  if (PERCENT_ESCAPE.test(absolute)) return null;
  const name = file.segments[file.segments.length - 1] ?? '';
  const type = contentType(name.includes('.') ? name : '') || 'application/octet-stream';
  return `X-Sendfile: ${absolute}\r\nContent-Type: ${type}\r\n`;
}
