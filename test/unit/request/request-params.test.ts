import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FCGI_MAX_CONTENT_LENGTH, RecordType } from '../../../src/protocol/constants.js';
import {
  decodeNameValuePairs,
  encodeNameValuePairs,
  type NameValuePair,
} from '../../../src/protocol/name-value-pairs.js';
import { makeReleasePinning, pinParams } from '../../../src/request/release-pinning.js';
import { PairParams, WireParams } from '../../../src/request/request-params.js';
import { decodeChunks } from '../../support/decode-all.js';

const pinning = makeReleasePinning('/srv/app/current', '/srv/app/releases/42', [
  '/srv/app/releases/41',
]);

/** Decodes PARAMS records one by one, as php-fpm does: each must hold whole pairs. */
function asPhpFpmReadsThem(records: Buffer): NameValuePair[] {
  const decoded = decodeChunks([records]);
  expect(decoded.every((r) => r.type === RecordType.Params && r.requestId === 1)).toBe(true);
  expect(decoded.at(-1)?.content.length).toBe(0);
  return decoded.flatMap((r) => {
    expect(r.content.length).toBeLessThanOrEqual(FCGI_MAX_CONTENT_LENGTH);
    return decodeNameValuePairs(r.content);
  });
}

const pathValue = fc.oneof(
  fc.constantFrom('/srv/app/current', '/srv/app/releases/41', '/srv/app/releases/42', '/elsewhere'),
  fc.constant('/srv/app/current').map((root) => `${root}/index.php`),
);
const pairArbitrary = fc.oneof(
  fc.tuple(
    fc.constantFrom('SCRIPT_FILENAME', 'DOCUMENT_ROOT', 'PATH_TRANSLATED', 'CONTEXT_DOCUMENT_ROOT'),
    pathValue,
  ),
  fc.tuple(
    fc.string({ minLength: 1, maxLength: 20 }),
    fc.oneof(fc.string({ maxLength: 40 }), fc.string({ minLength: 200, maxLength: 30_000 })),
  ),
);

describe('params as the web server sent them', () => {
  it('are forwarded with only the path params pinned, framed between pairs', () => {
    fc.assert(
      fc.property(fc.array(pairArbitrary, { maxLength: 12 }), (pairs) => {
        const wire = new WireParams(encodeNameValuePairs(pairs));
        expect(asPhpFpmReadsThem(wire.recordsFor(pinning))).toEqual(pinParams(pairs, pinning));
        // The pairs path and the wire path agree.
        expect(wire.recordsFor(pinning).equals(new PairParams(pairs).recordsFor(pinning))).toBe(
          true,
        );
      }),
      { numRuns: 300 },
    );
  });

  it('pass the bytes through untouched when nothing needs pinning', () => {
    const bytes = encodeNameValuePairs([
      ['SCRIPT_FILENAME', '/srv/app/releases/42/index.php'],
      ['QUERY_STRING', 'a=1'],
    ]);
    const records = decodeChunks([new WireParams(bytes).recordsFor(pinning)]);
    expect(records[0]?.content.equals(bytes)).toBe(true);
  });

  it('read one param without decoding the rest', () => {
    const wire = new WireParams(
      encodeNameValuePairs([
        ['A', '1'],
        ['REQUEST_URI', '/x?y'],
        ['B', '2'],
      ]),
    );
    expect(wire.get('REQUEST_URI')).toBe('/x?y');
    expect(wire.get('MISSING')).toBeUndefined();
  });

  it('read several params in one pass, the first of a repeat, as the pairs themselves do', () => {
    const names = ['HTTP_COOKIE', 'QUERY_STRING', 'MISSING'];
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom('HTTP_COOKIE', 'QUERY_STRING', 'HTTP_COOKIES', 'REQUEST_URI', 'X'),
            fc.string({ maxLength: 20 }),
          ),
          { maxLength: 12 },
        ),
        (pairs) => {
          const wire = new WireParams(encodeNameValuePairs(pairs));
          expect(wire.values(names)).toEqual(new PairParams(pairs).values(names));
          expect(wire.values(names)).toEqual(
            names.map((name) => pairs.find(([n]) => n === name)?.[1]),
          );
        },
      ),
    );
  });

  it('refuse a truncated stream with ERR_FCGI_TRUNCATED_PAIR', () => {
    const bytes = encodeNameValuePairs([['SCRIPT_FILENAME', '/srv/app/current/index.php']]);
    expect(() => new WireParams(bytes.subarray(0, bytes.length - 3))).toThrow(
      expect.objectContaining({ code: 'ERR_FCGI_TRUNCATED_PAIR' }),
    );
  });

  it('refuse to frame a pair php-fpm could not read', () => {
    const wire = new WireParams(encodeNameValuePairs([['HTTP_COOKIE', 'c'.repeat(70_000)]]));
    expect(() => wire.recordsFor(pinning)).toThrow(
      expect.objectContaining({ code: 'ERR_FCGI_PAIR_TOO_LONG' }),
    );
  });
});
