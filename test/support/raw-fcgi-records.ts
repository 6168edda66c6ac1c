import type { Socket } from 'node:net';
import { parseCgiResponseHead } from '../../src/protocol/cgi-response.js';
import { RecordType, Role } from '../../src/protocol/constants.js';
import { encodeNameValuePairs, type NameValuePair } from '../../src/protocol/name-value-pairs.js';
import { encodeBeginRequestBody } from '../../src/protocol/record-bodies.js';
import { encodeRecord, encodeStream } from '../../src/protocol/record-encoder.js';
import type { DecodedRecord } from './decode-all.js';

/** BEGIN_REQUEST for a responder, kept alive (as nginx with fastcgi_keep_conn sends it). */
export function beginRequest(id: number, keepConn = true): Buffer {
  return encodeRecord(
    RecordType.BeginRequest,
    id,
    encodeBeginRequestBody(Role.Responder, keepConn),
  );
}

/** A whole request but its end: BEGIN_REQUEST and the params, not the empty PARAMS record. */
export function unfinishedRequest(id: number, params: Iterable<NameValuePair>): Buffer {
  return Buffer.concat([
    beginRequest(id),
    encodeStream(RecordType.Params, id, encodeNameValuePairs(params)),
  ]);
}

/** What ends a request begun with `unfinishedRequest`: the empty PARAMS, and an empty STDIN. */
export function finishRequest(id: number): Buffer {
  return Buffer.concat([encodeRecord(RecordType.Params, id), encodeRecord(RecordType.Stdin, id)]);
}

/**
 * Writes `bytes` and resolves once the kernel has them (true), or false when the connection
 * failed first (the peer closed it). A peer that stops reading leaves it pending.
 */
export function writeFully(socket: Socket, bytes: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    if (socket.destroyed) {
      resolve(false);
      return;
    }
    socket.write(bytes, (error) => resolve(error == null));
  });
}

/** The status and body of request `id` among a raw client's records. */
export function responseOf(
  records: readonly DecodedRecord[],
  id: number,
): { status: number; body: string } {
  const stdout = Buffer.concat(
    records.filter((r) => r.requestId === id && r.type === RecordType.Stdout).map((r) => r.content),
  );
  const head = parseCgiResponseHead(stdout);
  if (head === null) throw new Error(`request ${id}: no CGI head in ${stdout.toString('latin1')}`);
  return { status: head.status, body: stdout.subarray(head.bodyOffset).toString('utf8') };
}
