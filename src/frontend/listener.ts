import { chmodSync, lstatSync, unlinkSync } from 'node:fs';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { CodedError } from '../coded-error.js';
import type { ListenAddress } from '../config/address.js';

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
  if (address.kind === 'unix') await removeStaleSocket(address.path);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    const done = () => {
      server.off('error', reject);
      resolve();
    };
    if (address.kind === 'unix') server.listen(address.path, done);
    else server.listen(address.port, address.host, done);
  });
  if (address.kind === 'unix') chmodSync(address.path, mode);
  return server;
}

async function removeStaleSocket(path: string): Promise<void> {
  let isSocket: boolean;
  try {
    isSocket = lstatSync(path).isSocket();
  } catch {
    return; // nothing there
  }
  if (!isSocket) throw new ListenError(`${path} exists and is not a socket; not replacing it`);
  if (await answers(path)) throw new ListenError(`${path} is in use by a running process`);
  unlinkSync(path);
}

function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = connect(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
}
