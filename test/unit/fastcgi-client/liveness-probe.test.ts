// probeReplica against scripted servers on unix sockets: an answer, a close, silence, garbage.
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { probeReplica } from '../../../src/fastcgi-client/liveness-probe.js';
import { FCGI_NULL_REQUEST_ID, RecordType } from '../../../src/protocol/constants.js';
import { encodeNameValuePairs } from '../../../src/protocol/name-value-pairs.js';
import { RecordDecoder } from '../../../src/protocol/record-decoder.js';
import { encodeRecord } from '../../../src/protocol/record-encoder.js';
import { makeTempDir } from '../../support/temp-dir.js';

let dir: { path: string; remove: () => void };
const servers: Server[] = [];
/** Connections the servers saw, to check each is closed by the probe. */
const accepted: Socket[] = [];

beforeEach(() => {
  dir = makeTempDir('probe');
});

afterEach(async () => {
  for (const socket of accepted.splice(0)) socket.destroy();
  await Promise.all(
    servers.splice(0).map((server) => new Promise<void>((done) => server.close(() => done()))),
  );
  dir.remove();
});

/** A server that calls `onGetValues` when a GET_VALUES record arrives. */
async function serve(onGetValues: (socket: Socket) => void): Promise<string> {
  const path = join(dir.path, `probe-${servers.length}.sock`);
  const server = createServer((socket) => {
    accepted.push(socket);
    socket.on('error', () => {});
    const decoder = new RecordDecoder((type) => {
      if (type === RecordType.GetValues) onGetValues(socket);
    });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
  });
  servers.push(server);
  await new Promise<void>((done) => server.listen(path, done));
  return path;
}

const RESULT = encodeRecord(
  RecordType.GetValuesResult,
  FCGI_NULL_REQUEST_ID,
  encodeNameValuePairs([['FCGI_MPXS_CONNS', '0']]),
);

describe('probeReplica', () => {
  it('is true when GET_VALUES_RESULT comes back, split at every byte', async () => {
    const path = await serve((socket) => {
      for (const byte of RESULT) socket.write(Buffer.from([byte]));
    });
    expect(await probeReplica({ kind: 'unix', path }, 2_000)).toBe(true);
  });

  it('is false when the replica closes without answering', async () => {
    const path = await serve((socket) => socket.end());
    expect(await probeReplica({ kind: 'unix', path }, 2_000)).toBe(false);
  });

  it('is false at the timeout when the replica says nothing, and closes its connection', async () => {
    let closed: Promise<void> | undefined;
    const path = await serve((socket) => {
      closed = new Promise<void>((done) => socket.once('close', () => done()));
    });
    const started = Date.now();
    expect(await probeReplica({ kind: 'unix', path }, 150)).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    // Hangs (and the test times out) if the probe left its connection open.
    await closed;
  });

  it('is false for bytes that are not FastCGI, and for no socket at all', async () => {
    const path = await serve((socket) => socket.write(Buffer.from('HTTP/1.1 400 Bad\r\n\r\n')));
    expect(await probeReplica({ kind: 'unix', path }, 2_000)).toBe(false);
    const missing = join(dir.path, 'missing.sock');
    expect(await probeReplica({ kind: 'unix', path: missing }, 2_000)).toBe(false);
  });
});
