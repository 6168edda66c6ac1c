import { type NameValuePair, pairSize, writePair } from './name-value-pairs.js';
import { frameParamsStream } from './params-framing.js';

/**
 * A PARAMS stream framed the way php-fpm can read it: php-fpm parses each PARAMS record on
 * its own, so a pair split across two records is lost and the connection reset. Records
 * here are cut only between pairs, and a pair that cannot fit in one record is refused
 * (nginx refuses such a request too: "fastcgi request record is too big").
 */
export function encodeParamsRecords(requestId: number, pairs: Iterable<NameValuePair>): Buffer {
  const list = Array.isArray(pairs) ? (pairs as readonly NameValuePair[]) : [...pairs];
  const pairEnds: number[] = [];
  let size = 0;
  for (const [name, value] of list) {
    size += pairSize(name, value);
    pairEnds.push(size);
  }
  const stream = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [name, value] of list) at = writePair(stream, at, name, value);
  return frameParamsStream(requestId, stream, pairEnds);
}
