import { createServer, type Server } from 'node:net';
import { ProtocolStatus, RecordType } from '../../src/protocol/constants.js';
import { encodeEndRequestBody } from '../../src/protocol/record-bodies.js';
import { RecordDecoder } from '../../src/protocol/record-decoder.js';
import { encodeRecord, encodeStream } from '../../src/protocol/record-encoder.js';

/**
 * A FastCGI application on kept-alive connections that writes `answer(requestId)` in one
 * write once a request's STDIN has ended: for answers no real application sends on cue.
 */
export async function startScriptedApp(
  socketPath: string,
  answer: (requestId: number) => Buffer | { readonly bytes: Buffer; readonly thenClose: true },
): Promise<Server> {
  const server = createServer((socket) => {
    const decoder = new RecordDecoder((type, requestId, content) => {
      if (type !== RecordType.Stdin || content.length > 0) return;
      const reply = answer(requestId);
      if (Buffer.isBuffer(reply)) socket.write(reply);
      else socket.end(reply.bytes);
    });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return server;
}

/** A whole answer: `bodyBytes` of STDOUT after a CGI head, its terminator and END_REQUEST. */
export function wholeAnswer(requestId: number, bodyBytes: number): Buffer {
  return Buffer.concat([
    encodeStream(
      RecordType.Stdout,
      requestId,
      Buffer.concat([
        Buffer.from('Content-Type: application/octet-stream\r\n\r\n'),
        Buffer.alloc(bodyBytes, 0x61),
      ]),
      true,
    ),
    encodeRecord(
      RecordType.EndRequest,
      requestId,
      encodeEndRequestBody(0, ProtocolStatus.RequestComplete),
    ),
  ]);
}
