import { chmodSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { CodedError } from '../coded-error.js';
import type { ListenAddress } from '../config/address.js';
import {
  listenInPlace,
  removeSocketFileIfSame,
  removeStaleSocket,
  socketAnswers,
  socketFileInode,
} from '../net/unix-socket-file.js';

export class ListenError extends CodedError<'ERR_LISTEN'> {
  override readonly name = 'ListenError';

  constructor(message: string) {
    super('ERR_LISTEN', message);
  }
}

/** What a listener does with its socket file when it closes. */
export interface SocketFileOnClose {
  /** False once the socket is handed to a successor, which goes on accepting on the path. */
  remove: boolean;
}

/**
 * Listens on a unix socket (with `mode`) or TCP, or on `inheritedFd`, a listening socket
 * passed by systemd's socket activation or an upgrading daemon: that one is used as it is
 * (its file, mode and group are the socket unit's; it is never unlinked or chmod-ed). A socket
 * file left by a crashed daemon is replaced; one that a live process still answers on is not
 * (two daemons on one socket would split the traffic), and a path that is not a socket is
 * never deleted. A socket file this listener made is removed when it closes, unless
 * `onClose.remove` was set false by then.
 */
export async function listen(
  address: ListenAddress,
  mode: number,
  onConnection: (socket: Socket) => void,
  inheritedFd: number | null = null,
  onClose: SocketFileOnClose = { remove: true },
): Promise<Server> {
  const server = createServer({ noDelay: true }, onConnection);
  if (inheritedFd !== null) {
    await listening(server, (done) => server.listen({ fd: inheritedFd }, done));
    return server;
  }
  if (address.kind === 'tcp') {
    await listening(server, (done) => server.listen(address.port, address.host, done));
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
  await listenInPlace(server, path);
  chmodSync(path, mode);
  const inode = socketFileInode(path);
  server.once('close', () => {
    if (onClose.remove) removeSocketFileIfSame(path, inode);
  });
  return server;
}

function listening(server: Server, start: (done: () => void) => void): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    start(() => {
      server.off('error', reject);
      resolve();
    });
  });
}

/** The descriptor a listening server accepts on, to hand to a successor; null when closed. */
export function listeningFd(server: Server): number | null {
  const fd = (server as unknown as { _handle: { fd?: number } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : null;
}
