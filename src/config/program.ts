import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';
import { resolveConfigPath } from './address.js';
import { describeFsError } from './fs-error.js';

/**
 * The absolute path of a program named in the config, checked at load time so a missing
 * php-fpm is a config error at startup, not a replica that never comes up. A name with a `/`
 * is a path (resolved as resolveConfigPath does); a bare name is looked up on `searchPath`.
 * Throws a plain Error whose message is the reason, as the parsers in units.ts do.
 */
export function resolveProgram(
  name: string,
  baseDir: string,
  searchPath: string = process.env.PATH ?? '',
): string {
  if (name === '') throw new Error('is empty: name a program, e.g. "php-cgi"');
  if (name.includes('/')) {
    const path = resolveConfigPath(name, baseDir);
    const problem = executableProblem(path);
    if (problem !== undefined) throw new Error(`${JSON.stringify(path)} ${problem}`);
    return path;
  }
  return searchOnPath(name, searchPath);
}

/** Debian installs daemons (php-fpm8.2) in sbin, which a non-root PATH often lacks. */
const SBIN_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];

function searchOnPath(name: string, searchPath: string): string {
  // Relative entries (`.`, empty) would make the program depend on the daemon's working
  // directory, so only absolute ones are searched.
  const listed = searchPath.split(delimiter).filter((dir) => isAbsolute(dir));
  const dirs = [...listed, ...SBIN_DIRS.filter((dir) => !listed.includes(dir))];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    if (executableProblem(candidate) === undefined) return candidate;
  }
  const searched = dirs.join(delimiter);
  throw new Error(
    `${JSON.stringify(name)} not found on PATH or in sbin (${searched}): install it or give its absolute path`,
  );
}

/** Why `path` cannot be executed, or undefined when it can. */
function executableProblem(path: string): string | undefined {
  try {
    // accessSync(X_OK) alone passes for directories, which carry the x bit for traversal.
    if (!statSync(path).isFile()) return 'is not a regular file';
  } catch (error) {
    return `cannot be run: ${describeFsError(error)}`;
  }
  try {
    accessSync(path, constants.X_OK);
    return undefined;
  } catch {
    return 'is not executable';
  }
}
