import { FCGI_HEADER_LENGTH, FCGI_MAX_CONTENT_LENGTH, RecordType } from './constants.js';
import { FcgiProtocolError } from './protocol-error.js';
import { paddingFor, writeHeader } from './record-encoder.js';

/**
 * Frames an encoded name-value stream as PARAMS records cut only between pairs (php-fpm
 * parses each PARAMS record on its own), plus the empty terminator; a pair longer than one
 * record is refused with ERR_FCGI_PAIR_TOO_LONG. `pairEnds` holds the
 * offset where each pair ends, ascending. A stream that fits one record is one copy.
 */
export function frameParamsStream(
  requestId: number,
  bytes: Buffer,
  pairEnds: readonly number[],
): Buffer {
  const records: Array<[start: number, end: number]> = [];
  let start = 0;
  let last = 0;
  for (const end of pairEnds) {
    if (end - last > FCGI_MAX_CONTENT_LENGTH) {
      throw new FcgiProtocolError(
        'ERR_FCGI_PAIR_TOO_LONG',
        `a param takes ${end - last} bytes; one pair must fit in a 65535-byte record`,
      );
    }
    if (end - start > FCGI_MAX_CONTENT_LENGTH) {
      records.push([start, last]);
      start = last;
    }
    last = end;
  }
  if (last > start) records.push([start, last]);

  let total = FCGI_HEADER_LENGTH;
  for (const [from, to] of records)
    total += FCGI_HEADER_LENGTH + (to - from) + paddingFor(to - from);
  const out = Buffer.allocUnsafe(total);
  let at = 0;
  for (const [from, to] of records) {
    const length = to - from;
    const padding = paddingFor(length);
    writeHeader(out, at, RecordType.Params, requestId, length, padding);
    at += FCGI_HEADER_LENGTH;
    at += bytes.copy(out, at, from, to);
    out.fill(0, at, at + padding);
    at += padding;
  }
  writeHeader(out, at, RecordType.Params, requestId, 0, 0);
  return out;
}
