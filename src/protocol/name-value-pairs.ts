import { FcgiProtocolError } from './protocol-error.js';

/**
 * FastCGI name-value pairs (PARAMS, GET_VALUES, GET_VALUES_RESULT).
 *
 * Names and values are byte strings on the wire; here they are `latin1` strings, which map
 * each byte to one UTF-16 code unit and back, so any bytes survive a decode/encode round trip
 * unchanged (a path in UTF-8 stays the same bytes). Use `Buffer.from(value, 'latin1')` to get
 * the bytes back.
 */
export type NameValuePair = readonly [name: string, value: string];

/** Lengths below 128 take one byte; longer ones four, with the top bit set. */
const SHORT_LENGTH_LIMIT = 0x80;
const MAX_PAIR_PART_LENGTH = 0x7fffffff;

function lengthFieldSize(length: number): number {
  return length < SHORT_LENGTH_LIMIT ? 1 : 4;
}

function writeLength(target: Buffer, offset: number, length: number): number {
  if (length < SHORT_LENGTH_LIMIT) {
    target[offset] = length;
    return offset + 1;
  }
  if (length > MAX_PAIR_PART_LENGTH) throw new RangeError(`name or value of ${length} bytes`);
  target.writeUInt32BE((length | 0x80000000) >>> 0, offset);
  return offset + 4;
}

/** The latin1 form of a text string's UTF-8 bytes: how a path from config meets a param value. */
export function utf8AsLatin1(text: string): string {
  return Buffer.from(text, 'utf8').toString('latin1');
}

/** Bytes one pair takes on the wire. */
export function pairSize(name: string, value: string): number {
  return lengthFieldSize(name.length) + lengthFieldSize(value.length) + name.length + value.length;
}

/** Writes one pair at `offset`; returns the end offset. */
export function writePair(target: Buffer, offset: number, name: string, value: string): number {
  let at = writeLength(target, offset, name.length);
  at = writeLength(target, at, value.length);
  at += target.write(name, at, 'latin1');
  return at + target.write(value, at, 'latin1');
}

/** Encodes pairs into one buffer, the content of a GET_VALUES or PARAMS stream. */
export function encodeNameValuePairs(pairs: Iterable<NameValuePair>): Buffer {
  const list = Array.isArray(pairs) ? (pairs as readonly NameValuePair[]) : [...pairs];
  let size = 0;
  for (const [name, value] of list) size += pairSize(name, value);
  const out = Buffer.allocUnsafe(size);
  let at = 0;
  for (const [name, value] of list) at = writePair(out, at, name, value);
  return out;
}

/**
 * Walks a complete name-value stream without building strings: `visit` gets each pair's
 * offsets. A pair whose length fields or bytes run past the end is a typed
 * ERR_FCGI_TRUNCATED_PAIR, never a RangeError.
 */
export function scanPairs(
  bytes: Buffer,
  visit: (pairStart: number, nameStart: number, valueStart: number, pairEnd: number) => void,
): void {
  const end = bytes.length;
  let at = 0;
  while (at < end) {
    const pairStart = at;
    const nameLength = readLength(bytes, at);
    at += fieldSize(bytes, at);
    const valueLength = readLength(bytes, at);
    at += fieldSize(bytes, at);
    const valueStart = at + nameLength;
    const pairEnd = valueStart + valueLength;
    if (pairEnd > end) throw truncated(at, end);
    visit(pairStart, at, valueStart, pairEnd);
    at = pairEnd;
  }
}

/** Decodes a complete name-value stream into pairs (see scanPairs for its errors). */
export function decodeNameValuePairs(bytes: Buffer): NameValuePair[] {
  const pairs: NameValuePair[] = [];
  scanPairs(bytes, (_pairStart, nameStart, valueStart, pairEnd) => {
    pairs.push([
      bytes.toString('latin1', nameStart, valueStart),
      bytes.toString('latin1', valueStart, pairEnd),
    ]);
  });
  return pairs;
}

/** A length field's size: the top bit of its first byte says 4 bytes, else 1. */
function fieldSize(bytes: Buffer, at: number): number {
  return (bytes[at] as number) < SHORT_LENGTH_LIMIT ? 1 : 4;
}

function readLength(bytes: Buffer, at: number): number {
  const first = bytes[at];
  if (first === undefined) throw truncated(at, bytes.length);
  if (first < SHORT_LENGTH_LIMIT) return first;
  if (at + 4 > bytes.length) throw truncated(at, bytes.length);
  return bytes.readUInt32BE(at) & MAX_PAIR_PART_LENGTH;
}

function truncated(at: number, end: number): FcgiProtocolError {
  return new FcgiProtocolError(
    'ERR_FCGI_TRUNCATED_PAIR',
    `name-value pair at byte ${at} runs past the end of its ${end}-byte stream`,
  );
}
