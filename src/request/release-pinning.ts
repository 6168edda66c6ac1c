import type { NameValuePair } from '../protocol/name-value-pairs.js';
import { utf8AsLatin1 } from '../protocol/name-value-pairs.js';

/** Params whose values are filesystem paths into the release the web server believes in. */
export const PATH_PARAMS: ReadonlySet<string> = new Set([
  'SCRIPT_FILENAME',
  'DOCUMENT_ROOT',
  'PATH_TRANSLATED',
  'CONTEXT_DOCUMENT_ROOT',
]);

/**
 * How a replica's requests are pinned to the release directory it started on. Paths are in
 * the params' latin1 form (see name-value-pairs.ts).
 */
export interface ReleasePinning {
  /** The release symlink as the web server sees it, e.g. /srv/app/current. */
  readonly symlink: string;
  /** The resolved directory this replica serves, e.g. /srv/app/releases/42. */
  readonly pinnedDir: string;
  /**
   * Release directories switchyard knows (every replica's, and past targets). A path into
   * one of them is also moved to `pinnedDir`: nginx with $realpath_root sends resolved paths.
   * Only known releases are rewritten, never any sibling directory, so a neighbouring site
   * under the same parent is left alone.
   */
  readonly knownReleaseDirs: ReadonlySet<string>;
}

/**
 * Teaches a live pinning one more release directory. The supervisor calls it on every pool
 * before a deploy flips the symlink, so a web server that resolves the symlink itself
 * ($realpath_root) cannot reach the new release's code through an old replica before the
 * cut-over. The set is shared by reference with the pool's requests: no copy per request.
 */
export function addKnownRelease(pinning: ReleasePinning, releaseDir: string): void {
  (pinning.knownReleaseDirs as Set<string>).add(utf8AsLatin1(releaseDir));
}

export function makeReleasePinning(
  symlink: string,
  pinnedDir: string,
  knownReleaseDirs: Iterable<string> = [],
): ReleasePinning {
  const known = new Set<string>([...knownReleaseDirs].map(utf8AsLatin1));
  known.add(utf8AsLatin1(pinnedDir));
  return {
    symlink: utf8AsLatin1(symlink),
    pinnedDir: utf8AsLatin1(pinnedDir),
    knownReleaseDirs: known,
  };
}

/** Returns `pairs` with path params moved into the pinned release (the same array if none). */
export function pinParams(
  pairs: readonly NameValuePair[],
  pinning: ReleasePinning,
): readonly NameValuePair[] {
  let out: NameValuePair[] | null = null;
  for (let i = 0; i < pairs.length; i += 1) {
    const [name, value] = pairs[i] as NameValuePair;
    if (!PATH_PARAMS.has(name)) continue;
    const pinned = pinPath(value, pinning);
    if (pinned === value) continue;
    out ??= [...pairs];
    out[i] = [name, pinned];
  }
  return out ?? pairs;
}

/** Apache's default proxy_fcgi backend type sends SCRIPT_FILENAME as `proxy:fcgi://host/path`. */
const APACHE_PROXY_PREFIX = 'proxy:fcgi://';

export function pinPath(path: string, pinning: ReleasePinning): string {
  // php-fpm strips Apache's proxy prefix and extra leading slashes itself, so a path hidden
  // behind them must be pinned too, or PHP would run whatever the symlink points at now.
  if (path.startsWith(APACHE_PROXY_PREFIX)) {
    const slash = path.indexOf('/', APACHE_PROXY_PREFIX.length);
    if (slash < 0) return path;
    return path.slice(0, slash) + pinPath(path.slice(slash), pinning);
  }
  if (path.startsWith('//')) {
    const collapsed = path.replace(/^\/+/, '/');
    const pinned = pinPath(collapsed, pinning);
    return pinned === collapsed ? path : pinned;
  }
  const underSymlink = prefixLength(path, pinning.symlink);
  if (underSymlink > 0) return pinning.pinnedDir + path.slice(underSymlink);
  for (const dir of pinning.knownReleaseDirs) {
    if (dir === pinning.pinnedDir) continue;
    const underRelease = prefixLength(path, dir);
    if (underRelease > 0) return pinning.pinnedDir + path.slice(underRelease);
  }
  return path;
}

/** Length of `dir` when `path` is `dir` itself or lies inside it; 0 otherwise. */
function prefixLength(path: string, dir: string): number {
  if (!path.startsWith(dir)) return 0;
  if (path.length === dir.length || path.charCodeAt(dir.length) === 0x2f) return dir.length;
  return 0;
}
