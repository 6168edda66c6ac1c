import type { Socket } from 'node:net';
import type { ListenAddress } from '../config/address.js';
import { connectTo } from '../net/connect-to.js';
import { RecordDecoder } from '../protocol/record-decoder.js';

/** Why an exchange ended without its records deciding it. */
export type ExchangeFailure =
  /** `timeoutMs` passed; `connected` tells a slow connect from a slow answer. */
  | { readonly kind: 'timeout'; readonly connected: boolean }
  /** The connection could not be made (refused, no socket file, permission…). */
  | { readonly kind: 'connect'; readonly error: NodeJS.ErrnoException }
  /** The peer sent bytes that are not FastCGI records. */
  | { readonly kind: 'protocol'; readonly error: Error }
  /** The connection failed after it was made. */
  | { readonly kind: 'broken'; readonly error: NodeJS.ErrnoException }
  /** The peer closed the connection. */
  | { readonly kind: 'closed' };

export interface RecordExchange<T> {
  readonly address: ListenAddress;
  /** Written at once (queued until the connection is up). */
  readonly bytes: Buffer;
  /** Bound on the whole exchange, connect included. */
  readonly timeoutMs: number;
  /** Each record received; an answer other than undefined ends the exchange with it. */
  readonly onRecord: (type: number, requestId: number, content: Buffer) => T | undefined;
  /** The answer when the exchange ends otherwise. */
  readonly onFailure: (failure: ExchangeFailure) => T;
}

/**
 * One exchange on a fresh connection, the shape of every short-lived FastCGI client here
 * (a health check, a warm-up request, a liveness probe): connect, write, decode records until
 * one of them decides, bounded by a timeout. Never rejects; the connection is destroyed on
 * every outcome, and records after the deciding one are ignored.
 */
export function exchangeRecords<T>(exchange: RecordExchange<T>): Promise<T> {
  const { address, bytes, timeoutMs, onRecord, onFailure } = exchange;
  return new Promise<T>((resolve) => {
    let connected = false;
    let settled = false;
    let socket: Socket | undefined;
    const finish = (answer: T): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket?.destroy();
      resolve(answer);
    };
    const fail = (failure: ExchangeFailure): void => {
      if (!settled) finish(onFailure(failure));
    };
    const timer = setTimeout(() => fail({ kind: 'timeout', connected }), timeoutMs);
    const decoder = new RecordDecoder((type, requestId, content) => {
      if (settled) return; // records after the deciding one, in the same chunk
      const answer = onRecord(type, requestId, content);
      if (answer !== undefined) finish(answer);
    });
    try {
      socket = connectTo(address);
    } catch (error) {
      // net.connect throws synchronously only for arguments it rejects outright.
      fail({ kind: 'connect', error: error as NodeJS.ErrnoException });
      return;
    }
    socket.on('connect', () => {
      connected = true;
    });
    socket.on('data', (chunk: Buffer) => {
      if (settled) return;
      try {
        decoder.write(chunk);
      } catch (error) {
        fail({ kind: 'protocol', error: error as Error });
      }
    });
    socket.on('error', (error: NodeJS.ErrnoException) =>
      fail(connected ? { kind: 'broken', error } : { kind: 'connect', error }),
    );
    socket.on('close', () => fail({ kind: 'closed' }));
    socket.write(bytes);
  });
}
