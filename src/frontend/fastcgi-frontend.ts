import type { Server, Socket } from 'node:net';
import type { ListenAddress } from '../config/address.js';
import { type ClientWarnings, clientWarnings } from './client-warnings.js';
import { FastCgiClientConnection, type FrontendContext } from './fastcgi-client-connection.js';
import { listen } from './listener.js';

/**
 * The socket the web server talks FastCGI to, and the connections it has open: at most
 * `limits.maxConns`; one beyond them is closed as soon as it is accepted.
 */
export class FastCgiFrontend {
  readonly #server: Server;
  readonly #connections: Map<Socket, FastCgiClientConnection>;
  readonly #warnings: ClientWarnings;

  private constructor(
    server: Server,
    connections: Map<Socket, FastCgiClientConnection>,
    warnings: ClientWarnings,
  ) {
    this.#server = server;
    this.#connections = connections;
    this.#warnings = warnings;
  }

  static async start(
    address: ListenAddress,
    mode: number,
    context: FrontendContext,
  ): Promise<FastCgiFrontend> {
    const connections = new Map<Socket, FastCgiClientConnection>();
    const warnings = clientWarnings(context.logger, 'FastCGI');
    const server = await listen(address, mode, (socket) => {
      connections.set(socket, new FastCgiClientConnection(socket, context, warnings));
      socket.once('close', () => connections.delete(socket));
    });
    // node closes a connection accepted beyond this at once and emits 'drop' instead.
    server.maxConnections = context.limits.maxConns;
    server.on('drop', () => warnings.tooManyConnections.note({ limit: server.maxConnections }));
    return new FastCgiFrontend(server, connections, warnings);
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
    this.#warnings.close();
  }

  /** Destroys every client connection at once (a second stop signal, tests). */
  destroyAll(): void {
    for (const socket of this.#connections.keys()) socket.destroy();
  }
}
