import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningNginx, startNginx } from '../test/support/nginx.js';
import { type RunningPhpFpm, startPhpFpm } from '../test/support/php-fpm.js';
import { makeTempDir } from '../test/support/temp-dir.js';
import { startBenchDaemon } from './daemon-process.js';
import { childPids } from './proc-stats.js';

export interface StackTools {
  readonly nginx: string;
  readonly phpFpm: string;
  readonly cpuProfileDir?: string | undefined;
  readonly daemonCli?: string | undefined;
}

/** The two setups compared: where nginx's FastCGI requests go. */
export interface Backends {
  readonly symlink: string;
  /** One php-fpm master with 8 children. */
  readonly direct: string;
  readonly directFpmPid: number;
  /** The switchyard daemon in front of two masters with 4 children each. */
  readonly switchyard: string;
  readonly replicaFpmPids: readonly number[];
  readonly daemonPid: number;
}

/**
 * Every process the benchmark starts, stopped in reverse order by `close` even when a start
 * failed half way. Concurrent calls of `close` share one run. Should the benchmark exit
 * before `close` is done (an uncaught error, `process.exit`), whatever still runs is killed
 * on the way out.
 */
export class Stack {
  readonly #cleanups: Array<() => Promise<void> | void> = [];
  readonly #dir = makeTempDir('bench');
  readonly #tools: StackTools;
  /** Leaders of their own process groups: php-fpm masters and the daemon. */
  readonly #groups = new Set<number>();
  /** nginx masters, sharing the benchmark's group: killed with their workers. */
  readonly #nginxMasters = new Set<number>();
  #closing: Promise<void> | null = null;
  readonly #killOnExit = () => this.#killNow();

  constructor(tools: StackTools) {
    this.#tools = tools;
    this.#cleanups.push(this.#dir.remove);
    process.on('exit', this.#killOnExit);
  }

  async startBackends(release: string): Promise<Backends> {
    const root = this.#dir.path;
    const symlink = join(root, 'current');
    symlinkSync(realpathSync(release), symlink);
    const direct = await this.#phpFpm('direct', 8);
    const replicas = [await this.#phpFpm('a', 4), await this.#phpFpm('b', 4)];
    const daemon = await startBenchDaemon({
      dir: root,
      symlink: './current',
      replicas: replicas.map((master) => master.socket),
      capacity: 4,
      cpuProfileDir: this.#tools.cpuProfileDir,
      cli: this.#tools.daemonCli,
    });
    this.#groups.add(daemon.pid);
    this.#cleanups.push(async () => {
      await daemon.stop();
      this.#groups.delete(daemon.pid);
    });
    return {
      symlink,
      direct: direct.socket,
      directFpmPid: direct.pid,
      switchyard: daemon.socket,
      replicaFpmPids: replicas.map((master) => master.pid),
      daemonPid: daemon.pid,
    };
  }

  /** nginx in front of `socket`; `name` keeps each instance's temp paths apart. */
  async startNginx(
    name: string,
    socket: string,
    options: { keepConn: boolean; keepalive: number; documentRoot: string },
  ): Promise<RunningNginx> {
    const dir = join(this.#dir.path, `nginx-${name}`);
    mkdirSync(dir);
    const nginx = await startNginx({
      binary: this.#tools.nginx,
      dir,
      fastcgiPass: `unix:${socket}`,
      documentRoot: options.documentRoot,
      keepConn: options.keepConn,
      upstreamKeepalive: options.keepalive,
    });
    this.#nginxMasters.add(nginx.pid);
    const stop = async () => {
      await nginx.stop();
      this.#nginxMasters.delete(nginx.pid);
    };
    this.#cleanups.push(stop);
    return { ...nginx, stop };
  }

  close(): Promise<void> {
    this.#closing ??= this.#closeAll();
    return this.#closing;
  }

  async #closeAll(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch (error) {
        process.stderr.write(`bench cleanup: ${(error as Error).message}\n`);
      }
    }
    process.off('exit', this.#killOnExit);
  }

  /** Synchronous, for the `exit` event: SIGKILL to what is left, the temp dir removed. */
  #killNow(): void {
    for (const pid of this.#nginxMasters) {
      for (const worker of [...childPids(pid), pid]) {
        try {
          process.kill(worker, 'SIGKILL');
        } catch {}
      }
    }
    for (const pid of this.#groups) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
    }
    this.#dir.remove();
  }

  async #phpFpm(name: string, children: number): Promise<RunningPhpFpm> {
    const dir = join(this.#dir.path, name);
    mkdirSync(dir);
    const master = await startPhpFpm({ binary: this.#tools.phpFpm, dir, name, children });
    // The master and its children share a process group: one SIGKILL ends them all.
    this.#groups.add(master.pid);
    this.#cleanups.push(async () => {
      await master.killAll();
      this.#groups.delete(master.pid);
    });
    return master;
  }
}
