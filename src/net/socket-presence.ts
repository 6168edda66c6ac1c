import type { Logger } from 'pino';
import { isSocketFile } from './unix-socket-file.js';

/** A unix socket the daemon listens on, and how to listen on it again. */
export interface ListeningSocketFile {
  readonly path: string;
  /** `listen.fastcgi`, `control.socket`: the key that names it, for the log. */
  readonly key: string;
  rebind(): Promise<void>;
}

/**
 * Listens again on a socket whose file disappears: a deleted runtime directory (where the
 * shipped config puts both sockets) otherwise cuts every web server and CLI off for good,
 * while the daemon still listens on inodes nobody can reach. Checks every `intervalMs`;
 * a failed rebind is logged and tried again at the next check. Returns a stop function.
 */
export function watchSocketFiles(
  sockets: readonly ListeningSocketFile[],
  logger: Logger,
  intervalMs = 1_000,
): () => void {
  const busy = new Set<ListeningSocketFile>();
  const timer = setInterval(() => {
    for (const socket of sockets) {
      if (busy.has(socket) || isSocketFile(socket.path)) continue;
      busy.add(socket);
      socket
        .rebind()
        .then(
          () =>
            logger.warn(
              { socket: socket.path, key: socket.key },
              `the socket ${socket.path} (${socket.key}) was removed: listening on it again`,
            ),
          (error: unknown) =>
            logger.error(
              { socket: socket.path, key: socket.key, err: (error as Error).message },
              `the socket ${socket.path} (${socket.key}) was removed and cannot be made again; retrying`,
            ),
        )
        .finally(() => busy.delete(socket));
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
