import { basename } from 'node:path';
import { CodedError } from '../coded-error.js';
import { releaseHeaderNameProblem as configHeaderNameProblem } from '../config/release-header-name.js';

/*
 * `[response] release_header`: a header line naming the replica's release, put first in the
 * CGI head of every response a replica answers (see `Exchange.onStdout`), so users and tests
 * see which release answered. Computed once per replica, never per request.
 *
 * - It goes before the application's first STDOUT byte, in its own STDOUT record on the
 *   FastCGI front (the web server reads it as one more header line) and through the HTTP
 *   front's CGI head parser into a real HTTP header. A line first is a valid head whatever
 *   the application's own lines are, none at all included.
 * - An application header of the same name is passed on as well, after ours: both are sent.
 * - A retried request carries the header of the replica that answered it.
 * - Responses switchyard generates itself (503, 504, 502, 413, 400) do not carry it: no
 *   release answered them. They carry `X-Switchyard: generated` instead.
 */

/** Why `name` cannot be the release header, or null: the config's own check, in one place. */
export function releaseHeaderNameProblem(name: string): string | null {
  const problem = configHeaderNameProblem(name);
  return problem === null ? null : `the release header ${problem}`;
}

/**
 * The header's value: the release directory's basename (`42` for /srv/app/releases/42), its
 * UTF-8 bytes kept when visible ASCII, each other byte (space, controls, non-ASCII) and `%`
 * itself written `%XX`, so the value is always a valid header value and decodes back.
 */
export function releaseHeaderValue(releaseDir: string): string {
  let value = '';
  for (const byte of Buffer.from(basename(releaseDir), 'utf8')) {
    value +=
      byte > 0x20 && byte < 0x7f && byte !== 0x25
        ? String.fromCharCode(byte)
        : `%${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return value;
}

/**
 * The bytes a replica serving `releaseDir` puts first in each response (`X-Release: 42\r\n`),
 * or null when no header is configured: ReplicaSpec's `responseHeader`. Throws
 * ERR_RELEASE_HEADER_NAME for a name `releaseHeaderNameProblem` refuses.
 */
export function releaseHeaderBytes(name: string | null, releaseDir: string): Buffer | null {
  if (name === null) return null;
  const problem = releaseHeaderNameProblem(name);
  if (problem !== null) throw new CodedError('ERR_RELEASE_HEADER_NAME', problem);
  return Buffer.from(`${name}: ${releaseHeaderValue(releaseDir)}\r\n`, 'latin1');
}
