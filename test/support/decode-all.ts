import { RecordDecoder } from '../../src/protocol/record-decoder.js';

export interface DecodedRecord {
  readonly type: number;
  readonly requestId: number;
  readonly content: Buffer;
}

/** Feeds `chunks` to a fresh decoder and returns every record, content copied for comparison. */
export function decodeChunks(chunks: Iterable<Buffer>): DecodedRecord[] {
  const records: DecodedRecord[] = [];
  const decoder = new RecordDecoder((type, requestId, content) => {
    records.push({ type, requestId, content: Buffer.from(content) });
  });
  for (const chunk of chunks) decoder.write(chunk);
  return records;
}

/** Splits `bytes` at the given offsets (any order, duplicates and out-of-range ones ignored). */
export function splitAt(bytes: Buffer, offsets: readonly number[]): Buffer[] {
  const cuts = [...new Set(offsets.filter((o) => o > 0 && o < bytes.length))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const cut of cuts) {
    chunks.push(bytes.subarray(start, cut));
    start = cut;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}
