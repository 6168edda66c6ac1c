import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  FCGI_HEADER_LENGTH,
  FCGI_MAX_CONTENT_LENGTH,
  FCGI_VERSION_1,
  RecordType,
} from '../../../src/protocol/constants.js';
import { FcgiProtocolError } from '../../../src/protocol/protocol-error.js';
import { RecordDecoder } from '../../../src/protocol/record-decoder.js';
import { encodeRecord, encodeStream, recordSize } from '../../../src/protocol/record-encoder.js';
import { type DecodedRecord, decodeChunks, splitAt } from '../../support/decode-all.js';

const recordArbitrary = fc.record({
  type: fc.integer({ min: 0, max: 255 }),
  requestId: fc.integer({ min: 0, max: 0xffff }),
  content: fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
});

const recordListArbitrary = fc.array(recordArbitrary, { maxLength: 20 });

function encodeAll(records: readonly DecodedRecord[]): Buffer {
  return Buffer.concat(records.map((r) => encodeRecord(r.type, r.requestId, r.content)));
}

/** A record as another encoder might write it: any padding, not just up to a multiple of 8. */
function rawRecord(type: number, requestId: number, content: Buffer, padding: number): Buffer {
  const header = Buffer.from([FCGI_VERSION_1, type, 0, 0, 0, 0, padding, 0]);
  header.writeUInt16BE(requestId, 2);
  header.writeUInt16BE(content.length, 4);
  return Buffer.concat([header, content, Buffer.alloc(padding, 0xee)]);
}

describe('record encoder', () => {
  it('pads every record to a multiple of 8 bytes with zeros', () => {
    fc.assert(
      fc.property(recordArbitrary, ({ type, requestId, content }) => {
        const encoded = encodeRecord(type, requestId, content);
        expect(encoded.length % 8).toBe(0);
        expect(encoded.length).toBe(recordSize(content.length));
        expect(encoded.readUInt16BE(4)).toBe(content.length);
        expect(encoded.subarray(FCGI_HEADER_LENGTH + content.length).every((b) => b === 0)).toBe(
          true,
        );
      }),
    );
  });

  it('refuses content a single record cannot carry', () => {
    expect(() =>
      encodeRecord(RecordType.Stdout, 1, Buffer.alloc(FCGI_MAX_CONTENT_LENGTH + 1)),
    ).toThrow(RangeError);
  });

  it('splits a stream longer than 65535 bytes over records that reassemble to it', () => {
    const data = Buffer.alloc(200_003, 0);
    for (let i = 0; i < data.length; i += 1) data[i] = (i * 7) & 0xff;
    const records = decodeChunks([encodeStream(RecordType.Stdout, 9, data, true)]);
    expect(records.length).toBe(5);
    for (const record of records) {
      expect(record.type).toBe(RecordType.Stdout);
      expect(record.requestId).toBe(9);
      expect(record.content.length).toBeLessThanOrEqual(FCGI_MAX_CONTENT_LENGTH);
    }
    expect(records.at(-1)?.content.length).toBe(0);
    expect(Buffer.concat(records.map((r) => r.content)).equals(data)).toBe(true);
  });

  it('encodes an empty stream as no records, and only the terminator with end', () => {
    expect(encodeStream(RecordType.Stdin, 1, Buffer.alloc(0)).length).toBe(0);
    expect(decodeChunks([encodeStream(RecordType.Stdin, 1, Buffer.alloc(0), true)])).toEqual([
      { type: RecordType.Stdin, requestId: 1, content: Buffer.alloc(0) },
    ]);
  });
});

describe('record decoder', () => {
  it('round-trips any list of records', () => {
    fc.assert(
      fc.property(recordListArbitrary, (records) => {
        expect(decodeChunks([encodeAll(records)])).toEqual(records);
      }),
    );
  });

  it('yields the same records whatever the chunking', () => {
    fc.assert(
      fc.property(
        recordListArbitrary,
        fc.array(fc.nat({ max: 10_000 }), { maxLength: 40 }),
        (records, cuts) => {
          const bytes = encodeAll(records);
          expect(decodeChunks(splitAt(bytes, cuts))).toEqual(records);
        },
      ),
    );
  });

  it('yields the same records when fed one byte at a time', () => {
    fc.assert(
      fc.property(recordListArbitrary, (records) => {
        const bytes = encodeAll(records);
        const bytewise = [...bytes].map((b) => Buffer.from([b]));
        expect(decodeChunks(bytewise)).toEqual(records);
      }),
      { numRuns: 50 },
    );
  });

  it('skips any padding length (0 to 255), whatever the chunking', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(recordArbitrary, fc.integer({ min: 0, max: 255 })), { maxLength: 10 }),
        fc.array(fc.nat({ max: 5_000 }), { maxLength: 20 }),
        (entries, cuts) => {
          const bytes = Buffer.concat(
            entries.map(([r, padding]) => rawRecord(r.type, r.requestId, r.content, padding)),
          );
          expect(decodeChunks(splitAt(bytes, cuts))).toEqual(entries.map(([r]) => r));
        },
      ),
    );
  });

  it('hands out views into the written chunk when a record arrives whole', () => {
    const content = Buffer.from('hello, view');
    const chunk = encodeRecord(RecordType.Stdout, 3, content);
    let seen: Buffer | undefined;
    new RecordDecoder((_type, _id, c) => {
      seen = c;
    }).write(chunk);
    expect(seen?.toString()).toBe('hello, view');
    expect(seen?.buffer).toBe(chunk.buffer);
    expect(seen?.byteOffset).toBe(chunk.byteOffset + FCGI_HEADER_LENGTH);
  });

  it('hands out a private copy when a record is assembled from several chunks', () => {
    const chunk = encodeRecord(RecordType.Stdout, 3, Buffer.from('split across chunks'));
    const first = Buffer.from(chunk.subarray(0, 12));
    const second = Buffer.from(chunk.subarray(12));
    let seen: Buffer | undefined;
    const decoder = new RecordDecoder((_type, _id, c) => {
      seen = c;
    });
    decoder.write(first);
    decoder.write(second);
    first.fill(0);
    second.fill(0);
    expect(seen?.toString()).toBe('split across chunks');
  });

  it('reports whether it stopped on a record boundary', () => {
    const decoder = new RecordDecoder(() => {});
    const bytes = encodeRecord(RecordType.Stdout, 1, Buffer.from('abc'));
    expect(decoder.idle).toBe(true);
    decoder.write(bytes.subarray(0, 3));
    expect(decoder.idle).toBe(false);
    decoder.write(bytes.subarray(3, 10));
    expect(decoder.idle).toBe(false);
    decoder.write(bytes.subarray(10));
    expect(decoder.idle).toBe(true);
  });

  it('fails with ERR_FCGI_BAD_VERSION and stays failed', () => {
    const bad = encodeRecord(RecordType.Stdout, 1, Buffer.from('x'));
    bad[0] = 2;
    const decoder = new RecordDecoder(() => {});
    expect(() => decoder.write(bad)).toThrow(
      expect.objectContaining({ code: 'ERR_FCGI_BAD_VERSION' }),
    );
    expect(decoder.error?.code).toBe('ERR_FCGI_BAD_VERSION');
    const good = encodeRecord(RecordType.Stdout, 1, Buffer.from('y'));
    expect(() => decoder.write(good)).toThrow(FcgiProtocolError);
  });

  it('delivers the records before a bad header, then fails', () => {
    const good = encodeRecord(RecordType.Stdout, 1, Buffer.from('first'));
    const bad = Buffer.from(encodeRecord(RecordType.Stdout, 1, Buffer.from('second')));
    bad[0] = 0;
    const seen: string[] = [];
    const decoder = new RecordDecoder((_t, _id, c) => seen.push(c.toString()));
    expect(() => decoder.write(Buffer.concat([good, bad]))).toThrow(FcgiProtocolError);
    expect(seen).toEqual(['first']);
  });
});
