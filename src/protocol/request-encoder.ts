import { FCGI_HEADER_LENGTH, RecordType, Role } from './constants.js';
import type { NameValuePair } from './name-value-pairs.js';
import { encodeParamsRecords } from './params-encoder.js';
import { encodeBeginRequestBody } from './record-bodies.js';
import { recordSize, streamSize, writeRecord, writeStream } from './record-encoder.js';

export interface RequestToEncode {
  readonly requestId: number;
  readonly params: Iterable<NameValuePair>;
  readonly stdin?: Uint8Array;
  readonly role?: number;
  readonly keepConn?: boolean;
}

const EMPTY = new Uint8Array(0);

/**
 * A whole request as a web server sends it, in one buffer: BEGIN_REQUEST, the PARAMS stream
 * (cut between pairs, see encodeParamsRecords) and its empty terminator, then the STDIN
 * stream and its empty terminator.
 */
export function encodeRequest(request: RequestToEncode): Buffer {
  const { requestId } = request;
  const begin = encodeBeginRequestBody(request.role ?? Role.Responder, request.keepConn ?? false);
  const params = encodeParamsRecords(requestId, request.params);
  const stdin = request.stdin ?? EMPTY;
  const out = Buffer.allocUnsafe(
    recordSize(begin.length) + params.length + streamSize(stdin.length) + FCGI_HEADER_LENGTH,
  );
  let at = writeRecord(out, 0, RecordType.BeginRequest, requestId, begin);
  at += params.copy(out, at);
  at = writeStream(out, at, RecordType.Stdin, requestId, stdin);
  writeRecord(out, at, RecordType.Stdin, requestId, EMPTY);
  return out;
}
