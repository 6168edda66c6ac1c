import type { Logger } from 'pino';
import type { DoneEvent, UpgradeRequest } from '../control/messages.js';
import type { OperationLock } from '../control/operation-lock.js';
import { type HandedSockets, startSuccessor, UpgradeError } from './start-successor.js';
import { checkSuccessorBinary } from './successor-binary.js';

export interface UpgraderOptions {
  /** Deploy, rollback and restart take it too: an upgrade runs alone. */
  readonly lock: OperationLock;
  readonly logger: Logger;
  /** The sockets accepting now; null when one cannot be handed over (why, for the refusal). */
  readonly sockets: () => HandedSockets | string;
  /** The running daemon's command line, for a successor of the same build. */
  readonly argv: readonly [string, ...string[]];
  readonly notifySocket: string | null;
  readonly watchdogUsec: number | null;
  readonly timeoutMs: number;
  /**
   * The successor serves: this daemon keeps the socket files for it, tells systemd its pid,
   * and stops once the answer to the CLI is written.
   */
  readonly handOver: (pid: number) => void;
}

/**
 * `switchyard upgrade` (and SIGUSR2), the old daemon's side: starts the successor on the
 * same sockets while this one serves; when it reports ready (its replicas healthy, its
 * fronts accepting beside ours), hands over. When it does not, this daemon serves on as if
 * nothing had happened, and says why.
 */
export class Upgrader {
  readonly #options: UpgraderOptions;
  /** The successor starting now, until it reports; stopped if this daemon stops first. */
  #starting: number | null = null;

  constructor(options: UpgraderOptions) {
    this.#options = options;
  }

  /** Refusals (busy, nothing to hand over) are thrown before anything starts. */
  async upgrade(request: UpgradeRequest): Promise<DoneEvent> {
    const { lock, logger } = this.#options;
    const sockets = this.#options.sockets();
    if (typeof sockets === 'string') {
      throw new UpgradeError('ERR_UPGRADE_FAILED', `cannot upgrade: ${sockets}`);
    }
    if (request.binary !== undefined) checkSuccessorBinary(request.binary);
    const claim = lock.claim('an upgrade');
    const started = Date.now();
    const argv: [string, ...string[]] =
      request.binary === undefined
        ? [...this.#options.argv]
        : [request.binary, ...this.#options.argv.slice(this.#firstArgument())];
    const say = (pid: number, message: string) => logger.info({ successor: pid }, message);
    try {
      const successor = await startSuccessor(
        {
          argv,
          sockets,
          notifySocket: this.#options.notifySocket,
          watchdogUsec: this.#options.watchdogUsec,
          timeoutMs: this.#options.timeoutMs,
        },
        (pid) => {
          this.#starting = pid;
          say(pid, `new daemon started (pid ${pid}): starting its replicas`);
        },
      );
      this.#starting = null;
      say(
        successor.pid,
        `new daemon (pid ${successor.pid}) serves: this one (pid ${process.pid}) stops accepting and finishes its requests`,
      );
      // Held from here to the exit: nothing may start a switch in a daemon that is leaving.
      this.#options.handOver(successor.pid);
      return {
        kind: 'done',
        ok: true,
        message: `upgraded: pid ${successor.pid} serves, pid ${process.pid} is stopping`,
        durationMs: Date.now() - started,
      };
    } catch (error) {
      this.#starting = null;
      claim.release();
      const message = `upgrade failed, this daemon (pid ${process.pid}) serves on: ${(error as Error).message}`;
      logger.error(message);
      return { kind: 'done', ok: false, message, durationMs: Date.now() - started };
    }
  }

  /**
   * This daemon stops while a successor starts: the successor is stopped too (it stops once
   * its start is done), so it never reports to a daemon that is gone and takes the service.
   */
  abort(): void {
    const pid = this.#starting;
    this.#starting = null;
    if (pid === null) return;
    this.#options.logger.warn(
      { successor: pid },
      'stopping during an upgrade: stopping the new daemon too',
    );
    try {
      process.kill(pid, 'SIGTERM');
    } catch {}
  }

  /** Where the arguments begin after the program: past node's own options and the script. */
  #firstArgument(): number {
    return this.#options.argv.length - process.argv.slice(2).length;
  }
}

/** The running daemon's command line: node, its options (tsx's loader), the script, the args. */
export function ownCommandLine(): [string, ...string[]] {
  return [process.execPath, ...process.execArgv, ...process.argv.slice(1)];
}
