import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';

/** How long a refused client gets to read the 503 before its connection is cut. */
const LINGER_MS = 2_000;

const BODY = '503 Service Unavailable: too many connections\n';
/** Written before the client's request is even read: it is the answer to whatever it sends. */
const RESPONSE = Buffer.from(
  [
    `HTTP/1.1 503 ${STATUS_CODES[503]}`,
    'Content-Type: text/plain; charset=utf-8',
    `Content-Length: ${Buffer.byteLength(BODY)}`,
    'Cache-Control: no-store',
    'Retry-After: 1',
    'X-Switchyard: generated',
    'Connection: close',
    '',
    BODY,
  ].join('\r\n'),
);

const refused = new WeakSet<Socket>();

/**
 * Answers a connection beyond the front's limit with 503 and closes it. The connection is
 * not cut at once: closing a socket with unread request bytes makes the kernel send a reset
 * that can reach the client before the 503 does. Its request is read (and dropped, see
 * `isRefused`) until the client closes, or for LINGER_MS at most.
 */
export function refuseConnection(socket: Socket): void {
  refused.add(socket);
  socket.on('error', () => {});
  socket.end(RESPONSE);
  const timer = setTimeout(() => socket.destroy(), LINGER_MS);
  timer.unref();
  socket.once('close', () => clearTimeout(timer));
}

/** True for a connection answered by `refuseConnection`: its requests must go nowhere. */
export function isRefused(socket: Socket): boolean {
  return refused.has(socket);
}
