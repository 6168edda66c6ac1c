import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FCGI_MAX_CONTENT_LENGTH, RecordType } from '../../../src/protocol/constants.js';
import {
  decodeNameValuePairs,
  type NameValuePair,
} from '../../../src/protocol/name-value-pairs.js';
import { encodeParamsRecords } from '../../../src/protocol/params-encoder.js';
import { decodeChunks } from '../../support/decode-all.js';

const pairs = fc.array(
  fc.tuple(
    fc.string({ minLength: 1, maxLength: 30 }),
    fc.oneof(fc.string({ maxLength: 50 }), fc.string({ minLength: 5_000, maxLength: 40_000 })),
  ),
  { maxLength: 12 },
);

describe('PARAMS records for php-fpm', () => {
  it('cut only between pairs: every record decodes on its own, and together they are the pairs', () => {
    fc.assert(
      fc.property(pairs, (list) => {
        const records = decodeChunks([encodeParamsRecords(3, list)]);
        expect(records.every((r) => r.type === RecordType.Params && r.requestId === 3)).toBe(true);
        expect(records.at(-1)?.content.length).toBe(0);
        const decoded: NameValuePair[] = [];
        for (const record of records) {
          expect(record.content.length).toBeLessThanOrEqual(FCGI_MAX_CONTENT_LENGTH);
          decoded.push(...decodeNameValuePairs(record.content));
        }
        expect(decoded).toEqual(list);
      }),
      { numRuns: 200 },
    );
  });

  it('pack small pairs into one record, as nginx does', () => {
    const records = decodeChunks([
      encodeParamsRecords(1, [
        ['A', '1'],
        ['B', '2'],
      ]),
    ]);
    expect(records.map((r) => r.content.length)).toEqual([8, 0]);
  });

  it('refuse a pair longer than one record with ERR_FCGI_PAIR_TOO_LONG', () => {
    expect(() => encodeParamsRecords(1, [['HTTP_COOKIE', 'x'.repeat(70_000)]])).toThrow(
      expect.objectContaining({ code: 'ERR_FCGI_PAIR_TOO_LONG' }),
    );
  });
});
