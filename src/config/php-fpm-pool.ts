import { readFileSync } from 'node:fs';
import { describeFsError } from './fs-error.js';

/** An ini section header such as `[www]`: nothing else in a pool file starts with `[`. */
const SECTION_HEADER = /^\s*\[/;

/**
 * Directives switchyard sets for each replica (php-fpm-config.ts). The user's file comes after
 * them, so one of these there would silently override them: a second listen socket, a
 * dynamic pm that breaks the capacity switchyard routes by, another chdir than the release.
 */
const OWNED_DIRECTIVE =
  /^\s*(listen(\.[a-z_.]+)?|pm(\.(max_children|status_path|status_listen))?|ping\.(path|response)|chdir|user|group|process_control_timeout|env\[SWITCHYARD_(RELEASE_DIR|REPLICA)\])\s*=/i;

/**
 * Checks the user's file of extra pool directives at load time. switchyard writes each
 * replica's pool config itself, `[section]` included, and inserts this file's lines under it:
 * a section of the file's own would silently move its directives (or the rest of the
 * generated ones) into another pool. Throws a plain Error whose message is the reason.
 */
export function checkPoolFile(path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new Error(`cannot read ${JSON.stringify(path)}: ${describeFsError(error)}`);
  }
  const lines = text.split(/\r?\n/);
  const header = lines.findIndex((line) => SECTION_HEADER.test(line));
  if (header !== -1) {
    throw new Error(
      'must hold pool directives only; switchyard writes the [section] itself ' +
        `(line ${header + 1} of ${JSON.stringify(path)}: ${(lines[header] ?? '').trim()})`,
    );
  }
  const owned = lines.findIndex((line) => OWNED_DIRECTIVE.test(line));
  if (owned !== -1) {
    const directive = (lines[owned] ?? '').split('=')[0]?.trim();
    throw new Error(
      `sets ${directive}, which switchyard sets for each replica (from [replicas], [health] ` +
        `and the release) (line ${owned + 1} of ${JSON.stringify(path)})`,
    );
  }
}
