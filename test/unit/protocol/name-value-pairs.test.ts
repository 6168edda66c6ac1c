import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeNameValuePairs,
  encodeNameValuePairs,
  type NameValuePair,
  utf8AsLatin1,
} from '../../../src/protocol/name-value-pairs.js';

/** Byte strings as the codec represents them: one latin1 character per byte. */
const byteString = (maxLength: number) =>
  fc.uint8Array({ maxLength }).map((bytes) => Buffer.from(bytes).toString('latin1'));

const pairArbitrary = fc.tuple(
  fc.oneof(byteString(20), byteString(400)),
  fc.oneof(byteString(20), byteString(2000)),
);

describe('name-value pairs', () => {
  it('round-trip any names and values, short and long', () => {
    fc.assert(
      fc.property(fc.array(pairArbitrary, { maxLength: 30 }), (pairs) => {
        expect(decodeNameValuePairs(encodeNameValuePairs(pairs))).toEqual(pairs);
      }),
    );
  });

  it('use a 1-byte length below 128 and a 4-byte length with the top bit from 128 on', () => {
    const short = encodeNameValuePairs([['A', 'x'.repeat(127)]]);
    expect([...short.subarray(0, 2)]).toEqual([1, 127]);
    const long = encodeNameValuePairs([['A', 'x'.repeat(128)]]);
    expect([...long.subarray(0, 5)]).toEqual([1, 0x80, 0, 0, 128]);
  });

  it('read a 4-byte length field even when the length would fit in one byte', () => {
    const bytes = Buffer.from([0x80, 0, 0, 4, 0x80, 0, 0, 2, ...Buffer.from('NAMEok')]);
    expect(decodeNameValuePairs(bytes)).toEqual([['NAME', 'ok']]);
  });

  it('keep the exact bytes of a UTF-8 path through decode and encode', () => {
    const path = '/srv/app/releases/42/café/ünïcode.php';
    const pairs: NameValuePair[] = [['SCRIPT_FILENAME', utf8AsLatin1(path)]];
    const decoded = decodeNameValuePairs(encodeNameValuePairs(pairs));
    expect(Buffer.from(decoded[0]?.[1] ?? '', 'latin1').toString('utf8')).toBe(path);
  });

  it('report every cut into a pair as ERR_FCGI_TRUNCATED_PAIR', () => {
    fc.assert(
      fc.property(fc.array(pairArbitrary, { minLength: 1, maxLength: 5 }), fc.nat(), (pairs, n) => {
        const bytes = encodeNameValuePairs(pairs);
        const boundaries = new Set<number>([0]);
        let at = 0;
        for (const pair of pairs) {
          at += encodeNameValuePairs([pair]).length;
          boundaries.add(at);
        }
        const cut = n % bytes.length;
        if (boundaries.has(cut)) return;
        expect(() => decodeNameValuePairs(bytes.subarray(0, cut))).toThrow(
          expect.objectContaining({ code: 'ERR_FCGI_TRUNCATED_PAIR' }),
        );
      }),
    );
  });

  it('decode an empty stream as no pairs', () => {
    expect(decodeNameValuePairs(Buffer.alloc(0))).toEqual([]);
  });
});
