import { realpathSync } from 'node:fs';
import { join, sep } from 'node:path';

/**
 * Where a static path leads inside a release's document root:
 * - `inside`: the file, or the deepest directory of it that exists, resolves under the root
 *   (a missing file is handed over all the same: the web server answers 404 as usual);
 * - `outside`: a symlink in the release leads out of the root;
 * - `gone`: the document root itself does not resolve (the release was removed).
 */
export type FileInside = 'inside' | 'outside' | 'gone';

/**
 * Checks `segments` under `documentRoot` by realpath. `rootReal` is the root's own realpath
 * when known (a cache), else it is resolved here. Errors other than a missing path (a loop, no
 * permission) count as `inside`: the web server meets the same error and refuses on its own.
 */
export function fileInside(
  documentRoot: string,
  rootReal: string | null,
  segments: readonly string[],
): FileInside {
  let root = rootReal;
  if (root === null) {
    root = resolved(documentRoot);
    if (root === null) return 'gone';
  }
  // The file first (the usual case: one call). A missing one: its deepest existing directory,
  // found by bisection since every shorter prefix of an existing one exists too; one call per
  // directory let a 4 KiB path of 2,000 of them hold the event loop for a tenth of a second.
  let target = resolved(join(documentRoot, ...segments));
  if (target === null) {
    let low = 0;
    let high = segments.length - 1;
    while (low <= high) {
      const depth = (low + high) >>> 1;
      const found = resolved(join(documentRoot, ...segments.slice(0, depth)));
      if (found === null) {
        high = depth - 1;
      } else {
        target = found;
        low = depth + 1;
      }
    }
  }
  if (target === null) return 'gone';
  if (target === UNRESOLVABLE) return 'inside';
  return target === root || target.startsWith(root.endsWith(sep) ? root : `${root}${sep}`)
    ? 'inside'
    : 'outside';
}

/** A realpath that failed for another reason than a missing path; no path holds a NUL. */
const UNRESOLVABLE = '\0';

/** The realpath, null when the path does not exist, UNRESOLVABLE for any other error. */
function resolved(path: string): string | null {
  try {
    return realpathSync.native(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    return code === 'ENOENT' || code === 'ENOTDIR' ? null : UNRESOLVABLE;
  }
}
