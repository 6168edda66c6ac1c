import { mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type RunningNginx, startNginx } from '../test/support/nginx.js';
import { type RunningPhpFpm, startPhpFpm } from '../test/support/php-fpm.js';
import { startBenchDaemon } from './daemon-process.js';
import { ProcessScope } from './process-scope.js';

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

/** Every process the data-plane benchmark starts, in one ProcessScope (see there). */
export class Stack {
  readonly #scope = new ProcessScope('bench');
  readonly #tools: StackTools;

  constructor(tools: StackTools) {
    this.#tools = tools;
  }

  async startBackends(release: string): Promise<Backends> {
    const root = this.#scope.dir;
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
    this.#scope.trackGroup(daemon.pid, daemon.stop);
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
    const dir = join(this.#scope.dir, `nginx-${name}`);
    mkdirSync(dir);
    const nginx = await startNginx({
      binary: this.#tools.nginx,
      dir,
      fastcgiPass: `unix:${socket}`,
      documentRoot: options.documentRoot,
      keepConn: options.keepConn,
      upstreamKeepalive: options.keepalive,
    });
    const stop = this.#scope.trackNginx(nginx.pid, nginx.stop);
    return { ...nginx, stop };
  }

  close(): Promise<void> {
    return this.#scope.close();
  }

  async #phpFpm(name: string, children: number): Promise<RunningPhpFpm> {
    const dir = join(this.#scope.dir, name);
    mkdirSync(dir);
    const master = await startPhpFpm({ binary: this.#tools.phpFpm, dir, name, children });
    // The master and its children share a process group: one SIGKILL ends them all.
    this.#scope.trackGroup(master.pid, master.killAll);
    return master;
  }
}
