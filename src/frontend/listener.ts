import { chmodSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { CodedError } from '../coded-error.js';
import type { ListenAddress } from '../config/address.js';
import { listenOwnerOnly, removeStaleSocket, socketAnswers } from '../net/unix-socket-file.js';

export class ListenError extends CodedError<'ERR_LISTEN'> {
  override readonly name = 'ListenError';

  constructor(message: string) {
    super('ERR_LISTEN', message);
  }
}

/**
 * Listens on a unix socket (with `mode`) or TCP. A socket file left by a crashed daemon is
 * replaced; one that a live process still answers on is not (two daemons on one socket would
 * split the traffic), and a path that is not a socket is never deleted.
 */
export async function listen(
  address: ListenAddress,
  mode: number,
  onConnection: (socket: Socket) => void,
): Promise<Server> {
  const server = createServer({ noDelay: true }, onConnection);
  if (address.kind === 'tcp') {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(address.port, address.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return server;
  }
  const { path } = address;
  await removeStaleSocket(path, {
    notASocket: () => new ListenError(`${path} exists and is not a socket; not replacing it`),
    inUse: async () =>
      (await socketAnswers(path))
        ? new ListenError(`${path} is in use by a running process`)
        : null,
  });
  // Born owner-only: no one connects before it has its mode.
  await listenOwnerOnly(server, path);
  chmodSync(path, mode);
  return server;
}
