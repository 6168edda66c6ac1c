import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { RetainedChunks } from '../../../src/protocol/retained-chunks.js';

const KiB = 1024;

/** `length` bytes at `offset` of a fresh buffer of `backing` bytes, as a socket read hands out. */
function viewOf(backing: number, offset: number, length: number, fill = 0x61): Buffer {
  const read = Buffer.allocUnsafeSlow(backing);
  read.fill(0);
  read.fill(fill, offset, offset + length);
  return read.subarray(offset, offset + length);
}

describe('RetainedChunks', () => {
  it('counts what 3000 one-byte views into 64 KiB reads hold: kilobytes, not 192 MiB', () => {
    const chunks = new RetainedChunks();
    for (let i = 0; i < 3_000; i += 1) chunks.push(viewOf(64 * KiB, 100, 1, i & 0xff));
    expect(chunks.size).toBe(3_000);
    expect(chunks.retained).toBeLessThan(8 * KiB);
    const bytes = chunks.concat();
    expect(bytes.length).toBe(3_000);
    for (let i = 0; i < 3_000; i += 1) expect(bytes[i]).toBe(i & 0xff);
  });

  it('keeps a view that is most of its read, and counts the whole read', () => {
    const view = viewOf(64 * KiB, 8, 60 * KiB);
    const chunks = new RetainedChunks();
    chunks.push(view);
    expect(chunks.retained).toBe(64 * KiB);
    // No copy: the one piece is handed back as it came.
    expect(chunks.concat()).toBe(view);
  });

  it('copies a large view that is a small part of its read', () => {
    const chunks = new RetainedChunks();
    chunks.push(viewOf(256 * KiB, 0, 20 * KiB));
    expect(chunks.retained).toBe(20 * KiB);
  });

  it('keeps the bytes in order across kept views and slabs, for as many reads of them', () => {
    const chunks = new RetainedChunks();
    chunks.push(viewOf(64 * KiB, 0, 3, 0x31));
    chunks.push(viewOf(4 * KiB, 0, 4 * KiB, 0x32));
    const early = chunks.chunks();
    chunks.push(viewOf(64 * KiB, 10, 5, 0x33));
    const text = (parts: Buffer[]) => Buffer.concat(parts).toString('latin1');
    expect(text(early)).toBe(`111${'2'.repeat(4 * KiB)}`);
    expect(text(chunks.chunks())).toBe(`111${'2'.repeat(4 * KiB)}33333`);
    expect(chunks.concat().toString('latin1')).toBe(`111${'2'.repeat(4 * KiB)}33333`);
  });

  it('lets go of everything on clear', () => {
    const chunks = new RetainedChunks();
    chunks.push(viewOf(64 * KiB, 0, 10));
    chunks.clear();
    expect(chunks.size).toBe(0);
    expect(chunks.retained).toBe(0);
    expect(chunks.chunks()).toEqual([]);
    expect(chunks.concat().length).toBe(0);
  });

  it('holds the bytes it was given, and at most twice their size plus one slab', () => {
    const piece = fc
      .record({ backing: fc.integer({ min: 1, max: 70_000 }), at: fc.nat(), length: fc.nat() })
      .map(({ backing, at, length }) => {
        const offset = at % backing;
        const take = Math.min(length % 20_000, backing - offset);
        return { backing, offset, length: take };
      });
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 60 }), (pieces) => {
        const chunks = new RetainedChunks();
        const expected: Buffer[] = [];
        pieces.forEach(({ backing, offset, length }, i) => {
          const view = viewOf(backing, offset, length, i & 0xff);
          expected.push(Buffer.from(view));
          chunks.push(view);
        });
        const size = expected.reduce((sum, part) => sum + part.length, 0);
        expect(chunks.size).toBe(size);
        expect(chunks.concat().equals(Buffer.concat(expected))).toBe(true);
        expect(chunks.retained).toBeLessThanOrEqual(2 * size + 16 * KiB);
      }),
    );
  });
});
