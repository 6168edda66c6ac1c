import { FCGI_HEADER_LENGTH, FCGI_MAX_CONTENT_LENGTH, RecordType } from './constants.js';
import { type NameValuePair, pairSize, writePair } from './name-value-pairs.js';
import { FcgiProtocolError } from './protocol-error.js';
import { paddingFor, writeHeader } from './record-encoder.js';

/**
 * A PARAMS stream framed the way php-fpm can read it: php-fpm parses each PARAMS record on
 * its own, so a pair split across two records is lost and the connection reset. Records
 * here are cut only between pairs, and a pair that cannot fit in one record is refused
 * (nginx refuses such a request too: "fastcgi request record is too big").
 */
export function encodeParamsRecords(
  requestId: number,
  pairs: Iterable<NameValuePair>,
  end = true,
): Buffer {
  const list = Array.isArray(pairs) ? (pairs as readonly NameValuePair[]) : [...pairs];
  const recordLengths = planRecords(list);
  let total = end ? FCGI_HEADER_LENGTH : 0;
  for (const length of recordLengths) total += FCGI_HEADER_LENGTH + length + paddingFor(length);

  const out = Buffer.allocUnsafe(total);
  let at = 0;
  let pairIndex = 0;
  for (const length of recordLengths) {
    const padding = paddingFor(length);
    writeHeader(out, at, RecordType.Params, requestId, length, padding);
    at += FCGI_HEADER_LENGTH;
    const contentEnd = at + length;
    while (at < contentEnd) {
      const [name, value] = list[pairIndex] as NameValuePair;
      at = writePair(out, at, name, value);
      pairIndex += 1;
    }
    out.fill(0, at, at + padding);
    at += padding;
  }
  if (end) writeHeader(out, at, RecordType.Params, requestId, 0, 0);
  return out;
}

/** Content length of each record, packing whole pairs greedily. */
function planRecords(pairs: readonly NameValuePair[]): number[] {
  const lengths: number[] = [];
  let current = 0;
  for (const [name, value] of pairs) {
    const size = pairSize(name, value);
    if (size > FCGI_MAX_CONTENT_LENGTH) {
      throw new FcgiProtocolError(
        'ERR_FCGI_PAIR_TOO_LONG',
        `param ${name.slice(0, 64)} takes ${size} bytes; one pair must fit in a 65535-byte record`,
      );
    }
    if (current + size > FCGI_MAX_CONTENT_LENGTH) {
      lengths.push(current);
      current = 0;
    }
    current += size;
  }
  if (current > 0) lengths.push(current);
  return lengths;
}
