import { createRequire } from 'node:module';
import type { Logger } from 'pino';
import type { UnixDgramSocket } from 'unix-dgram';

/**
 * sd_notify(3) for Node, which has no unix datagram sockets: each state change is one
 * datagram to NOTIFY_SOCKET, sent through unix-dgram (a small native addon), from this
 * process, so systemd sees the daemon's own pid as the sender. Without NOTIFY_SOCKET every
 * call does nothing. A send that fails is logged, never thrown: the daemon serves on.
 */
export class SystemdNotifier {
  readonly #socketPath: string | null;
  readonly #logger: Logger;
  #socket: UnixDgramSocket | null = null;
  #warned = false;

  constructor(socketPath: string | null, logger: Logger) {
    this.#logger = logger;
    // sd_notify's abstract-namespace form (`@name`) needs an exact address length, which the
    // addon does not give: said once, and nothing is sent.
    if (socketPath?.startsWith('@')) {
      logger.error(
        { notifySocket: socketPath },
        'NOTIFY_SOCKET is in the abstract namespace, which switchyard cannot send to: systemd will not hear READY=1',
      );
      socketPath = null;
    }
    this.#socketPath = socketPath;
  }

  get enabled(): boolean {
    return this.#socketPath !== null;
  }

  /**
   * The replicas serve: Type=notify's start is complete (or a reload is). `mainPid`: this
   * process takes over as the service's main process (an upgrade), in the same datagram, so
   * systemd never reads READY=1 from a process it does not know as the main one.
   */
  ready(status: string, mainPid?: number): void {
    this.send({
      ...(mainPid === undefined ? {} : { MAINPID: String(mainPid) }),
      READY: '1',
      STATUS: status,
    });
  }

  /** A SIGHUP reload begins (READY=1 ends it); systemd ≥ 253 wants the monotonic time with it. */
  reloading(): void {
    this.send({ RELOADING: '1', MONOTONIC_USEC: String(process.hrtime.bigint() / 1000n) });
  }

  stopping(status: string): void {
    this.send({ STOPPING: '1', STATUS: status });
  }

  status(text: string): void {
    this.send({ STATUS: text });
  }

  watchdog(): void {
    this.send({ WATCHDOG: '1' });
  }

  /** The service's main process is now `pid` (an upgrade's successor). */
  mainPid(pid: number): void {
    this.send({ MAINPID: String(pid) });
  }

  /** One datagram of `NAME=value` lines; a newline in a value would start another line. */
  send(fields: Readonly<Record<string, string>>): void {
    const path = this.#socketPath;
    if (path === null) return;
    const text = Object.entries(fields)
      .map(([name, value]) => `${name}=${value.replace(/[\r\n]+/g, ' ')}`)
      .join('\n');
    const datagram = Buffer.from(`${text}\n`);
    try {
      this.#socket ??= openSocket();
      this.#socket.send(datagram, 0, datagram.length, path, (error) => {
        if (error !== undefined && error !== null) this.#failed(error);
      });
    } catch (error) {
      this.#failed(error as Error);
    }
  }

  close(): void {
    try {
      this.#socket?.close();
    } catch {}
    this.#socket = null;
  }

  #failed(error: Error): void {
    // Said once: a watchdog ping every few seconds must not flood the log.
    if (this.#warned) return;
    this.#warned = true;
    this.#logger.error(
      { notifySocket: this.#socketPath, err: error.message },
      'cannot send to NOTIFY_SOCKET (systemd): it will not hear of readiness or watchdog pings',
    );
  }
}

/** Loaded when first needed: a daemon outside systemd never loads the native addon. */
function openSocket(): UnixDgramSocket {
  const require = createRequire(import.meta.url);
  const { createSocket } = require('unix-dgram') as typeof import('unix-dgram');
  const socket = createSocket('unix_dgram');
  // Without a listener an 'error' or 'congestion' event would throw; send's callback reports.
  socket.on('error', () => {});
  socket.on('congestion', () => {});
  return socket;
}
