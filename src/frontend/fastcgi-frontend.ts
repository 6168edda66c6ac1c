import type { Server, Socket } from 'node:net';
import type { ListenAddress } from '../config/address.js';
import { type ClientWarnings, clientWarnings } from './client-warnings.js';
import { ConnectionTable } from './connection-table.js';
import { FastCgiClientConnection, type FrontendContext } from './fastcgi-client-connection.js';
import { listen, listeningFd, type SocketFileOnClose } from './listener.js';

/**
 * The socket the web server talks FastCGI to, and the connections it has open: at most
 * `limits.maxConns`; one beyond them is closed as soon as it is accepted.
 */
export class FastCgiFrontend {
  #server: Server | null = null;
  readonly #address: ListenAddress;
  readonly #mode: number;
  readonly #context: FrontendContext;
  readonly #connections: ConnectionTable<Socket, FastCgiClientConnection>;
  readonly #warnings: ClientWarnings;
  #stopped = false;
  /** A listening socket passed in (socket activation, an upgrade), taken by the first listen. */
  #inheritedFd: number | null = null;
  readonly #socketFile: SocketFileOnClose = { remove: true };

  private constructor(address: ListenAddress, mode: number, context: FrontendContext) {
    this.#address = address;
    this.#mode = mode;
    this.#context = context;
    this.#warnings = clientWarnings(context.logger, 'FastCGI');
    this.#connections = new ConnectionTable(
      context.limits.maxConns,
      context.limits.clientIdleTimeoutMs,
    );
  }

  static async start(
    address: ListenAddress,
    mode: number,
    context: FrontendContext,
    inheritedFd: number | null = null,
  ): Promise<FastCgiFrontend> {
    const frontend = new FastCgiFrontend(address, mode, context);
    frontend.#inheritedFd = inheritedFd;
    frontend.#server = await frontend.#listen();
    return frontend;
  }

  /**
   * Listens again on the same address: its socket file was removed (the runtime directory
   * deleted), so no web server can reach the old one. Connections open on the old listener
   * go on; it stops accepting.
   */
  async rebind(): Promise<void> {
    if (this.#stopped) return;
    // Closed first: closing a unix listener unlinks its path, which would be the new one's.
    this.#server?.close();
    this.#server = null;
    const server = await this.#listen();
    // A stop that came while it was binding wins: nothing may accept after it.
    if (this.#stopped) server.close();
    else this.#server = server;
  }

  /** The descriptor it accepts on, for `switchyard upgrade` to pass on; null once stopped. */
  get listeningFd(): number | null {
    return this.#server === null ? null : listeningFd(this.#server);
  }

  /** A successor accepts on the same socket: stopping must leave its file in place. */
  keepSocketFile(): void {
    this.#socketFile.remove = false;
  }

  async #listen(): Promise<Server> {
    // A rebind (its file was removed) binds anew: the inherited socket has no path left.
    const inherited = this.#inheritedFd;
    this.#inheritedFd = null;
    const server = await listen(
      this.#address,
      this.#mode,
      (socket) => this.#accept(socket),
      inherited,
      this.#socketFile,
    );
    // An accept failure (EMFILE) is emitted as 'error'; unheard, it would end the daemon.
    server.on('error', (error: NodeJS.ErrnoException) =>
      this.#warnings.acceptFailed.note({ err: error.code ?? error.message }),
    );
    return server;
  }

  /**
   * Counted in the table, not with server.maxConnections: after a rebind the old listener's
   * connections still count. At the limit the idlest connection makes room (see
   * ConnectionTable); with none idle, the newcomer is refused.
   */
  #accept(socket: Socket): void {
    const limit = this.#context.limits.maxConns;
    const { admitted, madeRoom } = this.#connections.makeRoom();
    if (!admitted || madeRoom) {
      this.#warnings.tooManyConnections.note({ limit, made_room: madeRoom });
    }
    if (!admitted) {
      socket.destroy();
      return;
    }
    const connection = new FastCgiClientConnection(socket, this.#context, this.#warnings);
    this.#connections.add(socket, connection);
    socket.once('close', () => this.#connections.delete(socket));
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
    this.#stopped = true;
    this.#server?.close();
    this.#server = null;
    this.#connections.close();
    this.#warnings.close();
  }

  /** Destroys every client connection at once (a second stop signal, tests). */
  destroyAll(): void {
    for (const socket of this.#connections.keys()) socket.destroy();
  }
}
