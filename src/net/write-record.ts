import type { Socket } from 'node:net';
import { FCGI_HEADER_LENGTH } from '../protocol/constants.js';
import { writeHeader } from '../protocol/record-encoder.js';
import { batchWritesThisTick } from './batch-writes.js';

/**
 * Writes bytes already held (at most 65535) as one record: only the 8-byte header is new,
 * the content goes out as it is, in the same writev. Returns write()'s flow-control answer.
 */
export function writeRecordTo(
  socket: Socket,
  type: number,
  requestId: number,
  content: Buffer,
): boolean {
  const header = Buffer.allocUnsafe(FCGI_HEADER_LENGTH);
  writeHeader(header, 0, type, requestId, content.length, 0);
  batchWritesThisTick(socket);
  socket.write(header);
  return socket.write(content);
}
