import type { Server, Socket } from 'node:net';
import type { ListenAddress } from '../config/address.js';
import { FastCgiClientConnection, type FrontendContext } from './fastcgi-client-connection.js';
import { listen } from './listener.js';

/** The socket the web server talks FastCGI to, and the connections it has open. */
export class FastCgiFrontend {
  readonly #server: Server;
  readonly #sockets: Set<Socket>;

  private constructor(server: Server, sockets: Set<Socket>) {
    this.#server = server;
    this.#sockets = sockets;
  }

  static async start(
    address: ListenAddress,
    mode: number,
    context: FrontendContext,
  ): Promise<FastCgiFrontend> {
    const sockets = new Set<Socket>();
    const server = await listen(address, mode, (socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      new FastCgiClientConnection(socket, context);
    });
    return new FastCgiFrontend(server, sockets);
  }

  get connections(): number {
    return this.#sockets.size;
  }

  /** Stops accepting new connections; open ones go on until their clients close them. */
  stopAccepting(): void {
    this.#server.close();
  }

  /** Destroys every client connection at once (a second stop signal, tests). */
  destroyAll(): void {
    for (const socket of this.#sockets) socket.destroy();
  }
}
