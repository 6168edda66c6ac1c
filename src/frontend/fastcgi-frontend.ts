import type { Server, Socket } from 'node:net';
import type { ListenAddress } from '../config/address.js';
import { FastCgiClientConnection, type FrontendContext } from './fastcgi-client-connection.js';
import { listen } from './listener.js';

/** The socket the web server talks FastCGI to, and the connections it has open. */
export class FastCgiFrontend {
  readonly #server: Server;
  readonly #connections: Map<Socket, FastCgiClientConnection>;

  private constructor(server: Server, connections: Map<Socket, FastCgiClientConnection>) {
    this.#server = server;
    this.#connections = connections;
  }

  static async start(
    address: ListenAddress,
    mode: number,
    context: FrontendContext,
  ): Promise<FastCgiFrontend> {
    const connections = new Map<Socket, FastCgiClientConnection>();
    const server = await listen(address, mode, (socket) => {
      connections.set(socket, new FastCgiClientConnection(socket, context));
      socket.once('close', () => connections.delete(socket));
    });
    return new FastCgiFrontend(server, connections);
  }

  get connections(): number {
    return this.#connections.size;
  }

  /** Requests begun and not yet answered, over every connection. */
  get activeRequests(): number {
    let count = 0;
    for (const connection of this.#connections.values()) count += connection.activeRequests;
    return count;
  }

  /** Stops accepting and closes each connection once its requests are answered. */
  shutdown(): void {
    this.stopAccepting();
    for (const connection of this.#connections.values()) connection.closeWhenIdle();
  }

  /** Stops accepting new connections; open ones go on until their clients close them. */
  stopAccepting(): void {
    this.#server.close();
  }

  /** Destroys every client connection at once (a second stop signal, tests). */
  destroyAll(): void {
    for (const socket of this.#connections.keys()) socket.destroy();
  }
}
