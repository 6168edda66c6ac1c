import { chmodSync, mkdirSync, renameSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { CommandReplicasConfig } from '../../config/config-types.js';
import {
  checkSocketPath,
  listenOwnerOnly,
  removeOwnStaleSocket,
} from '../../net/unix-socket-file.js';
import { discardFailedStart, GroupWorker } from './group-worker.js';
import { OutputLog } from './output-log.js';
import { COMMAND_STOP_TABLE } from './stop-tables.js';
import type { Worker, WorkerExit, WorkerLauncher, WorkerSpec } from './worker.js';
import { describeExit, WorkerError } from './worker-error.js';
import { spawnWorkerProcess, type WorkerProcess } from './worker-process.js';
import { START_TIMEOUT_MS, waitForStart } from './worker-start.js';

export interface CommandLauncherOptions {
  readonly replicas: CommandReplicasConfig;
  /** Sockets go here (paths.runtime). */
  readonly runtimeDir: string;
  /**
   * How long what is left in a process's group gets after that process exited on its own
   * (say php-cgi with PHP_FCGI_CHILDREN, whose children outlive it): SIGTERM, then SIGKILL.
   */
  readonly drainTimeoutMs: number;
  readonly logger: Logger;
  /** How long launch() waits for a `{socket}` command's socket to appear; 10 s unless told. */
  readonly startTimeoutMs?: number;
}

/** The placeholder in argv elements and env values for the replica's socket path. */
export const SOCKET_PLACEHOLDER = '{socket}';
/** listen(2) backlog of a socket switchyard creates (the kernel caps it at somaxconn). */
const LISTEN_BACKLOG = 511;

/**
 * Starts a replica from a command line, in one of two modes:
 *
 * - `{socket}` in an argv element or an env value: it is replaced by
 *   `<runtime>/<name>.<incarnation>.sock` and ONE process is started, which listens there
 *   itself and manages its own concurrency. launch() resolves once the socket exists.
 * - otherwise switchyard creates that socket (mode 0600, backlog 511) and starts
 *   `capacity + 1` processes that all get it as fd 0 (FCGI_LISTENSOCK_FILENO: php-cgi,
 *   spawn-fcgi-style apps). The kernel hands each connection to one of them. launch()
 *   resolves once every process is spawned: the socket already listens, and nothing tells a
 *   process that is about to accept from one that is about to die. A process that dies right
 *   after its start (`/bin/false`) is reported by `exited`, with the output in outputTail();
 *   the supervisor treats an exit before the first passing health check as a failed start.
 *
 * In both modes an exit before launch() resolves rejects it with ERR_WORKER_EXITED. Every
 * process runs in the release directory, through `setpriv --pdeathsig SIGTERM`, in its own
 * process group, with switchyard's environment plus the configured `env`, plus
 * `SWITCHYARD_RELEASE_DIR=<release>`, `SWITCHYARD_REPLICA=<name>` and, unless already set, `PHP_FCGI_MAX_REQUESTS=0`:
 * php-cgi otherwise exits after 500 requests, which switchyard would see as a crash of the
 * replica (replacing processes is switchyard's job, not php-cgi's).
 */
export class CommandLauncher implements WorkerLauncher {
  readonly #options: CommandLauncherOptions;

  constructor(options: CommandLauncherOptions) {
    this.#options = options;
  }

  async launch(spec: WorkerSpec): Promise<Worker> {
    const { replicas, runtimeDir, logger } = this.#options;
    const socket = join(runtimeDir, `${spec.name}.${spec.incarnation}.sock`);
    const { argv: configArgv, env: configEnv } = replicas.command;
    const [program] = configArgv;
    if (program === undefined) {
      throw new WorkerError('ERR_WORKER_SPAWN', `no command to start ${spec.name} with`);
    }
    const listensItself =
      configArgv.some((arg) => arg.includes(SOCKET_PLACEHOLDER)) ||
      Object.values(configEnv).some((value) => value.includes(SOCKET_PLACEHOLDER));
    const fill = (text: string) => text.replaceAll(SOCKET_PLACEHOLDER, socket);
    const argv = configArgv.map(fill) as [string, ...string[]];
    const env: Record<string, string | undefined> = {
      PHP_FCGI_MAX_REQUESTS: '0',
      ...process.env,
      ...Object.fromEntries(Object.entries(configEnv).map(([name, value]) => [name, fill(value)])),
      SWITCHYARD_RELEASE_DIR: spec.release,
      SWITCHYARD_REPLICA: spec.name,
    };
    const output = new OutputLog({ logger, replica: spec.name });
    const log = logger.child({ replica: spec.name });

    let server: Server | null = null;
    try {
      checkSocketPath(socket);
      mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
      removeOwnStaleSocket(socket);
      if (!listensItself) server = await listenOnScratch(socket);
    } catch (error) {
      throw new WorkerError(
        'ERR_WORKER_SPAWN',
        `cannot prepare the socket for ${spec.name}: ${(error as Error).message}`,
        { cause: error },
      );
    }

    const processes: WorkerProcess[] = [];
    let spawnError: Promise<WorkerError> | null = null;
    const count = listensItself ? 1 : spec.capacity + 1;
    try {
      // Synchronous from here to server.close(): switchyard's own handle never gets the chance
      // to accept a connection meant for the children.
      const fd = server === null ? 'ignore' : listeningFd(server);
      for (let i = 0; i < count && spawnError === null; i += 1) {
        const spawned = spawnWorkerProcess({
          argv,
          cwd: spec.release,
          env,
          stdin: fd,
          output,
          logger,
        });
        if (spawned.ok) processes.push(spawned.process);
        else spawnError = spawned.error;
      }
    } finally {
      // The children hold their own copies of the socket (spawn dups it before returning).
      // Closing ours unlinks the name it was bound to, which the rename already moved away.
      server?.close();
    }

    const cleanUp = () => discardFailedStart(processes, output, [socket]);
    if (spawnError !== null) {
      await cleanUp();
      throw await spawnError;
    }
    const pids = processes.map((entry) => entry.pid);
    log.info({ pids, socket, mode: listensItself ? 'socket' : 'fd 0' }, 'command started');

    const startTimeoutMs = this.#options.startTimeoutMs ?? START_TIMEOUT_MS;
    const failure = listensItself
      ? await waitForStart(processes, socket, startTimeoutMs)
      : earlyExit(processes);
    if (failure !== null) {
      await cleanUp();
      throw new WorkerError(
        failure.exit === null ? 'ERR_WORKER_START_TIMEOUT' : 'ERR_WORKER_EXITED',
        failure.exit === null
          ? `${program} for ${spec.name} did not create ${socket} within ${startTimeoutMs} ms`
          : `${program} for ${spec.name} (pid ${failure.exit.pid}) exited with ${describeExit(failure.exit)} before it was ready`,
        { outputTail: output.tail(), exit: failure.exit },
      );
    }
    return new GroupWorker({
      processes,
      socket,
      files: [socket],
      output,
      log,
      drainTimeoutMs: this.#options.drainTimeoutMs,
      table: COMMAND_STOP_TABLE,
    });
  }
}

function earlyExit(processes: readonly WorkerProcess[]): { exit: WorkerExit } | null {
  const exit = processes.find((entry) => entry.exit() !== undefined)?.exit();
  return exit === undefined ? null : { exit };
}

/**
 * A listening unix socket at `socket`, mode 0600. libuv unlinks a pipe server's path when the
 * server is closed, and switchyard closes its copy as soon as the children hold the socket: so
 * it binds a scratch name and renames it into place, leaving close() nothing to unlink.
 */
async function listenOnScratch(socket: string): Promise<Server> {
  const scratch = socket.replace(/\.sock$/, '.bind');
  removeOwnStaleSocket(scratch);
  const server = createServer();
  await listenOwnerOnly(server, scratch, LISTEN_BACKLOG);
  try {
    chmodSync(scratch, 0o600);
    renameSync(scratch, socket);
  } catch (error) {
    server.close();
    throw error;
  }
  return server;
}

function listeningFd(server: Server): number {
  const fd = (server as unknown as { _handle: { fd?: number } | null })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('cannot get the listening socket fd');
  return fd;
}
