import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RecordType } from '../../../src/protocol/constants.js';
import { decodeNameValuePairs } from '../../../src/protocol/name-value-pairs.js';
import { ParamsAccumulator } from '../../../src/protocol/params-accumulator.js';
import { FcgiProtocolError } from '../../../src/protocol/protocol-error.js';
import {
  parseBeginRequestBody,
  parseEndRequestBody,
  parseUnknownTypeBody,
} from '../../../src/protocol/record-bodies.js';
import { RecordDecoder } from '../../../src/protocol/record-decoder.js';
import { encodeRequest } from '../../../src/protocol/request-encoder.js';
import { WireParams } from '../../../src/request/request-params.js';
import { splitAt } from '../../support/decode-all.js';

/**
 * Reads a byte stream the way a FastCGI peer does: frames records, parses fixed bodies, and
 * collects PARAMS streams into pairs. Returns 'ok' or the typed error's code; any other
 * exception escapes and fails the property.
 */
function interpret(chunks: Buffer[], maxParamsBytes = 4096): string {
  const params = new Map<number, ParamsAccumulator>();
  const decoder = new RecordDecoder((type, requestId, content) => {
    switch (type) {
      case RecordType.BeginRequest:
        parseBeginRequestBody(content);
        params.set(requestId, new ParamsAccumulator(maxParamsBytes));
        break;
      case RecordType.EndRequest:
        parseEndRequestBody(content);
        break;
      case RecordType.UnknownType:
        parseUnknownTypeBody(content);
        break;
      case RecordType.GetValues:
      case RecordType.GetValuesResult:
        decodeNameValuePairs(content);
        break;
      case RecordType.Params: {
        const stream = params.get(requestId) ?? new ParamsAccumulator(maxParamsBytes);
        params.set(requestId, stream);
        if (content.length === 0) new WireParams(stream.finish());
        else stream.push(content);
        break;
      }
    }
  });
  try {
    for (const chunk of chunks) decoder.write(chunk);
    return 'ok';
  } catch (error) {
    if (error instanceof FcgiProtocolError) return error.code;
    throw error;
  }
}

const validRequest = fc
  .record({
    requestId: fc.integer({ min: 1, max: 0xffff }),
    params: fc.array(fc.tuple(fc.string({ maxLength: 40 }), fc.string({ maxLength: 200 })), {
      maxLength: 12,
    }),
    stdin: fc.uint8Array({ maxLength: 500 }),
  })
  .map((r) => encodeRequest({ requestId: r.requestId, params: r.params, stdin: r.stdin }));

describe('decoder under random and mutated input', () => {
  it('ends random bytes in records or a typed error, never a crash', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 2000 }),
        fc.array(fc.nat({ max: 2000 }), { maxLength: 10 }),
        (bytes, cuts) => {
          const result = interpret(splitAt(Buffer.from(bytes), cuts));
          expect(typeof result).toBe('string');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('ends mutated valid requests in records or a typed error, never a crash', () => {
    fc.assert(
      fc.property(
        validRequest,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.array(fc.nat({ max: 3000 }), { maxLength: 6 }),
        (request, mutations, cuts) => {
          const bytes = Buffer.from(request);
          for (const [position, value] of mutations) bytes[position % bytes.length] = value;
          const result = interpret(splitAt(bytes, cuts));
          expect(typeof result).toBe('string');
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('finds each of its typed errors among the mutations', () => {
    // Guards the properties above against passing only because nothing ever went wrong.
    const codes = new Set<string>();
    fc.assert(
      fc.property(
        validRequest,
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), {
          minLength: 1,
          maxLength: 4,
        }),
        (request, mutations) => {
          const bytes = Buffer.from(request);
          for (const [position, value] of mutations) bytes[position % bytes.length] = value;
          codes.add(interpret([bytes], 64));
        },
      ),
      { numRuns: 3000, seed: 42 },
    );
    expect(codes).toContain('ok');
    expect(codes).toContain('ERR_FCGI_BAD_VERSION');
    expect(codes).toContain('ERR_FCGI_TRUNCATED_PAIR');
    expect(codes).toContain('ERR_FCGI_PARAMS_TOO_LARGE');
  });

  it('reports a short BEGIN_REQUEST body as ERR_FCGI_BAD_RECORD', () => {
    expect(() => parseBeginRequestBody(Buffer.alloc(3))).toThrow(
      expect.objectContaining({ code: 'ERR_FCGI_BAD_RECORD' }),
    );
  });
});
