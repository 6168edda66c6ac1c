import { describe, expect, it } from 'vitest';
import { RequestBody } from '../../../src/request/request-body.js';

const KiB = 1024;

/** A one-byte STDIN record's content as it arrives: a view into a 64 KiB read. */
function tinyView(byte: number): Buffer {
  const read = Buffer.allocUnsafeSlow(64 * KiB);
  read[7] = byte;
  return read.subarray(7, 8);
}

describe('RequestBody', () => {
  it('holds tiny records by their bytes, not their reads, and hands them over whole', () => {
    const body = new RequestBody(KiB * KiB);
    for (let i = 0; i < 3_000; i += 1) expect(body.push(tinyView(i & 0xff))).toBe(true);
    expect(body.retained).toBeLessThan(8 * KiB);
    const written: Buffer[] = [];
    body.attach({
      write: (chunk) => {
        written.push(Buffer.from(chunk));
        return true;
      },
      end: () => {},
    });
    const bytes = Buffer.concat(written);
    expect(bytes.length).toBe(3_000);
    expect(bytes.every((byte, i) => byte === (i & 0xff))).toBe(true);
  });

  it('holds nothing once a body past the retry limit went to a backend', () => {
    const body = new RequestBody(10);
    body.push(Buffer.alloc(20));
    expect(body.retained).toBeGreaterThan(0);
    body.attach({ write: () => true, end: () => {} });
    expect(body.retained).toBe(0);
  });
});
