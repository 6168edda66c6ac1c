import { connect, type Socket } from 'node:net';
import { RecordDecoder } from '../../src/protocol/record-decoder.js';
import type { DecodedRecord } from './decode-all.js';
import { waitFor } from './wait-for.js';

/** A FastCGI peer that sends whatever bytes a test gives it and records what comes back. */
export class RawFcgiClient {
  readonly socket: Socket;
  readonly records: DecodedRecord[] = [];
  closed = false;

  private constructor(socket: Socket) {
    this.socket = socket;
    const decoder = new RecordDecoder((type, requestId, content) => {
      this.records.push({ type, requestId, content: Buffer.from(content) });
    });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static open(path: string): Promise<RawFcgiClient> {
    return new Promise((resolve, reject) => {
      const socket = connect(path);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawFcgiClient(socket));
      });
    });
  }

  send(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  waitForRecord(
    match: (record: DecodedRecord) => boolean,
    what: string,
    timeoutMs = 5_000,
  ): Promise<DecodedRecord> {
    return waitFor(() => this.records.find(match), { timeoutMs, what });
  }

  waitForClose(timeoutMs = 5_000): Promise<boolean> {
    return waitFor(() => this.closed, { timeoutMs, what: 'the server to close the connection' });
  }

  destroy(): void {
    this.socket.destroy();
  }
}
