import { STATUS_CODES } from 'node:http';

/**
 * The head of a CGI response (RFC 3875 section 6) as an application writes it on STDOUT:
 * header lines, a blank line, then the body.
 */
export interface CgiResponseHead {
  readonly status: number;
  readonly reason: string;
  /** Header lines in order, names as sent; `Status` itself is not among them. */
  readonly headers: ReadonlyArray<readonly [name: string, value: string]>;
  /** Offset of the first body byte in the bytes the head was parsed from. */
  readonly bodyOffset: number;
}

/** An application's head longer than this is treated as malformed rather than buffered. */
export const MAX_CGI_HEAD_BYTES = 64 * 1024;

/**
 * Parses the head if `bytes` holds all of it; returns null while the blank line has not yet
 * arrived (a caller holding more than MAX_CGI_HEAD_BYTES without a head should give up). Lines may end in CRLF or a bare LF (PHP and many CGI programs send either).
 */
export function parseCgiResponseHead(bytes: Buffer): CgiResponseHead | null {
  const end = findHeadEnd(bytes);
  if (end === null) return null;
  const text = bytes.toString('latin1', 0, end.headLength);
  const headers: [string, string][] = [];
  let status = 200;
  let reason = 'OK';
  let hasLocation = false;
  let hasStatus = false;
  for (const line of text.split(/\r?\n/)) {
    if (line === '') continue;
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim();
    const value = line.slice(colon + 1).trim();
    if (name.toLowerCase() === 'status') {
      const match = /^(\d{3})\s*(.*)$/.exec(value);
      if (match) {
        status = Number(match[1]);
        reason = match[2] || reasonFor(status);
        hasStatus = true;
      }
      continue;
    }
    if (name.toLowerCase() === 'location') hasLocation = true;
    headers.push([name, value]);
  }
  // RFC 3875 6.2.3: a client redirect without a Status is a 302.
  if (hasLocation && !hasStatus) {
    status = 302;
    reason = 'Found';
  }
  return { status, reason, headers, bodyOffset: end.bodyOffset };
}

function findHeadEnd(bytes: Buffer): { headLength: number; bodyOffset: number } | null {
  const limit = Math.min(bytes.length, MAX_CGI_HEAD_BYTES);
  for (let i = 0; i < limit; i += 1) {
    if (bytes[i] !== 0x0a) continue;
    if (bytes[i + 1] === 0x0a) return { headLength: i, bodyOffset: i + 2 };
    if (bytes[i + 1] === 0x0d && bytes[i + 2] === 0x0a) return { headLength: i, bodyOffset: i + 3 };
  }
  return null;
}

function reasonFor(status: number): string {
  return STATUS_CODES[status] ?? '';
}
