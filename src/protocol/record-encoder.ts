import {
  FCGI_HEADER_LENGTH,
  FCGI_MAX_CONTENT_LENGTH,
  FCGI_STREAM_CHUNK,
  FCGI_VERSION_1,
} from './constants.js';

const EMPTY = new Uint8Array(0);

/** Padding that brings a record to a multiple of 8 bytes, as the spec recommends. */
export function paddingFor(contentLength: number): number {
  return (8 - (contentLength & 7)) & 7;
}

/** Size on the wire of one record carrying `contentLength` bytes. */
export function recordSize(contentLength: number): number {
  return FCGI_HEADER_LENGTH + contentLength + paddingFor(contentLength);
}

/** Size on the wire of a stream of `dataLength` bytes split into records (no terminator). */
export function streamSize(dataLength: number): number {
  const fullRecords = Math.floor(dataLength / FCGI_STREAM_CHUNK);
  const rest = dataLength - fullRecords * FCGI_STREAM_CHUNK;
  return fullRecords * (FCGI_HEADER_LENGTH + FCGI_STREAM_CHUNK) + (rest > 0 ? recordSize(rest) : 0);
}

/**
 * Writes a record header at `offset`. The hot path uses this to frame bytes it already holds
 * (or to patch a forwarded record's request id) without building a new record.
 */
export function writeHeader(
  target: Buffer,
  offset: number,
  type: number,
  requestId: number,
  contentLength: number,
  paddingLength: number,
): void {
  target[offset] = FCGI_VERSION_1;
  target[offset + 1] = type;
  target.writeUInt16BE(requestId, offset + 2);
  target.writeUInt16BE(contentLength, offset + 4);
  target[offset + 6] = paddingLength;
  target[offset + 7] = 0;
}

/** Writes one record (header, content, zeroed padding) at `offset`; returns the end offset. */
export function writeRecord(
  target: Buffer,
  offset: number,
  type: number,
  requestId: number,
  content: Uint8Array,
): number {
  const contentLength = content.length;
  if (contentLength > FCGI_MAX_CONTENT_LENGTH) {
    throw new RangeError(
      `record content of ${contentLength} bytes exceeds 65535; use encodeStream`,
    );
  }
  const padding = paddingFor(contentLength);
  writeHeader(target, offset, type, requestId, contentLength, padding);
  let at = offset + FCGI_HEADER_LENGTH;
  target.set(content, at);
  at += contentLength;
  if (padding > 0) target.fill(0, at, at + padding);
  return at + padding;
}

/** One record in one allocation. */
export function encodeRecord(type: number, requestId: number, content: Uint8Array = EMPTY): Buffer {
  const out = Buffer.allocUnsafe(recordSize(content.length));
  writeRecord(out, 0, type, requestId, content);
  return out;
}

/**
 * A stream's data (STDIN, STDOUT, STDERR, DATA, PARAMS) split over as many records as it
 * needs, in one allocation. An empty `data` yields no records; the stream's terminating
 * empty record is `encodeRecord(type, requestId)`, or pass `end` to append it.
 */
export function encodeStream(
  type: number,
  requestId: number,
  data: Uint8Array,
  end = false,
): Buffer {
  const out = Buffer.allocUnsafe(streamSize(data.length) + (end ? FCGI_HEADER_LENGTH : 0));
  let at = writeStream(out, 0, type, requestId, data);
  if (end) at = writeRecord(out, at, type, requestId, EMPTY);
  return out;
}

/** Writes `data` as a run of records at `offset`; returns the end offset. */
export function writeStream(
  target: Buffer,
  offset: number,
  type: number,
  requestId: number,
  data: Uint8Array,
): number {
  let at = offset;
  for (let start = 0; start < data.length; start += FCGI_STREAM_CHUNK) {
    at = writeRecord(target, at, type, requestId, data.subarray(start, start + FCGI_STREAM_CHUNK));
  }
  return at;
}
