import { createServer, type Server, type Socket } from 'node:net';
import { RecordType } from '../../src/protocol/constants.js';
import { decodeNameValuePairs } from '../../src/protocol/name-value-pairs.js';
import { RecordDecoder } from '../../src/protocol/record-decoder.js';
import { encodeRecord } from '../../src/protocol/record-encoder.js';
import { wholeAnswer } from './scripted-fcgi-app.js';

/** How far the flood got: bytes handed to the socket, and whether it waits for a drain. */
export interface FloodProgress {
  sent: number;
  done: boolean;
  waitingForDrain: boolean;
  /** Date.now() of the last write that went through or drain. */
  lastProgressAt: number;
}

export interface StderrFloodApp {
  readonly servers: readonly Server[];
  readonly flood: FloodProgress;
  close(): void;
}

const STDERR_CONTENT = 65_528;

/**
 * A FastCGI application on each of `socketPaths` that answers REQUEST_URI `/flood` with
 * `totalBytes` of STDERR before its response, written as fast as switchyard takes it (it
 * waits for 'drain' like any well-behaved writer), and every other request with a short 200.
 */
export async function startStderrFloodApp(
  socketPaths: readonly string[],
  totalBytes: number,
): Promise<StderrFloodApp> {
  const flood: FloodProgress = {
    sent: 0,
    done: false,
    waitingForDrain: false,
    lastProgressAt: Date.now(),
  };
  const sockets = new Set<Socket>();
  const serve = (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    const params = new Map<number, Buffer[]>();
    const decoder = new RecordDecoder((type, id, content) => {
      if (type === RecordType.Params) {
        const parts = params.get(id) ?? [];
        parts.push(Buffer.from(content));
        params.set(id, parts);
        return;
      }
      if (type !== RecordType.Stdin || content.length > 0) return;
      const uri = new Map(decodeNameValuePairs(Buffer.concat(params.get(id) ?? []))).get(
        'REQUEST_URI',
      );
      params.delete(id);
      if (uri === '/flood') floodThenAnswer(socket, id, totalBytes, flood);
      else socket.write(wholeAnswer(id, 4));
    });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
    socket.on('error', () => {});
  };
  const servers = await Promise.all(
    socketPaths.map(async (socketPath) => {
      const server = createServer(serve);
      await new Promise<void>((resolve) => server.listen(socketPath, resolve));
      return server;
    }),
  );
  return {
    servers,
    flood,
    close: () => {
      for (const socket of sockets) socket.destroy();
      for (const server of servers) server.close();
    },
  };
}

function floodThenAnswer(socket: Socket, id: number, total: number, flood: FloodProgress): void {
  // One record, written again and again: the bytes never change, so it is never copied.
  const record = encodeRecord(RecordType.Stderr, id, Buffer.alloc(STDERR_CONTENT, 0x77));
  const pump = () => {
    while (flood.sent < total) {
      if (socket.destroyed) return;
      flood.sent += STDERR_CONTENT;
      flood.lastProgressAt = Date.now();
      if (!socket.write(record)) {
        flood.waitingForDrain = true;
        socket.once('drain', () => {
          flood.waitingForDrain = false;
          flood.lastProgressAt = Date.now();
          pump();
        });
        return;
      }
    }
    flood.done = true;
    socket.write(wholeAnswer(id, 4));
  };
  pump();
}
