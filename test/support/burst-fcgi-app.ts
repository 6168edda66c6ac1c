import { createServer, type Server } from 'node:net';
import { ProtocolStatus, RecordType } from '../../src/protocol/constants.js';
import { encodeEndRequestBody } from '../../src/protocol/record-bodies.js';
import { RecordDecoder } from '../../src/protocol/record-decoder.js';
import { encodeRecord, encodeStream } from '../../src/protocol/record-encoder.js';

/**
 * A FastCGI application that writes each whole answer (a large STDOUT and END_REQUEST) in one
 * write, so the two arrive in one read: the case where back-pressure from the client and the
 * end of the answer meet. Kept-alive connections, as php-fpm with FCGI_KEEP_CONN.
 */
export async function startBurstApp(socketPath: string, bodyBytes: number): Promise<Server> {
  const answer = (requestId: number) =>
    Buffer.concat([
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
  const server = createServer((socket) => {
    const decoder = new RecordDecoder((type, requestId, content) => {
      if (type === RecordType.Stdin && content.length === 0) socket.write(answer(requestId));
    });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  return server;
}
