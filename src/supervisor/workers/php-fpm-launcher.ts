import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { HealthConfig, PhpFpmReplicasConfig } from '../../config/config-types.js';
import { checkSocketPath, removeOwnStaleSocket } from '../../net/unix-socket-file.js';
import { discardFailedStart, GroupWorker } from './group-worker.js';
import { OutputLog } from './output-log.js';
import { phpFpmFiles, renderPhpFpmConfig, unguessableStatusPath } from './php-fpm-config.js';
import { preloadSettings } from './php-fpm-preload.js';
import { SlowlogForwarder } from './slowlog-forwarder.js';
import { PHP_FPM_STOP_TABLE } from './stop-tables.js';
import type { Worker, WorkerLauncher, WorkerSpec } from './worker.js';
import { describeExit, WorkerError } from './worker-error.js';
import { spawnWorkerProcess } from './worker-process.js';
import { START_TIMEOUT_MS, waitForStart } from './worker-start.js';

export interface PhpFpmLauncherOptions {
  readonly replicas: PhpFpmReplicasConfig;
  /** ping.path and ping.response come from here. */
  readonly health: Pick<HealthConfig, 'path' | 'expect'>;
  /** process_control_timeout, and how long orphaned children get after a master crash. */
  readonly drainTimeoutMs: number;
  /** Configs, pid files and sockets go here (paths.runtime). */
  readonly runtimeDir: string;
  readonly logger: Logger;
  /** How long launch() waits for the socket to appear; 10 s unless told. */
  readonly startTimeoutMs?: number;
  /** `release.symlink`: an `opcache.preload` path through it is moved into the pinned release. */
  readonly releaseSymlink?: string;
  /** `[watchdog] slowlog`: php-fpm's request_slowlog_timeout in ms, forwarded to the log; null: off. */
  readonly slowlogMs?: number | null;
}

/**
 * Starts one php-fpm master per replica incarnation, with a generated config (see
 * renderPhpFpmConfig) and a unix socket of its own in the runtime directory:
 * `<php-fpm> -F -O -y <runtime>/<name>.<incarnation>.conf` (plus `-d opcache.preload=…` when
 * the pool file sets it, see preloadSettings, and `-R` as root), through
 * `setpriv --pdeathsig SIGTERM` so it cannot outlive switchyard, in its own process group.
 *
 * The pool gets `spec.capacity + 1` children (see renderPhpFpmConfig). launch() resolves once
 * the master runs and its socket exists (the pool listens); it does not health-check, the
 * supervisor does. If the master exits first (a bad pool directive, a missing user), it
 * rejects with a WorkerError quoting php-fpm's own error lines.
 *
 * Verified against php-fpm 8.2: SIGQUIT to the master lets busy children finish their request
 * (idle ones exit at once) and the master exits 0 after the last; children orphaned by a
 * SIGKILLed master keep serving the socket until told otherwise (they do not watch their
 * parent), and they honour SIGQUIT the same way.
 */
export class PhpFpmLauncher implements WorkerLauncher {
  readonly #options: PhpFpmLauncherOptions;
  /** Every replica's pm.status_path, for the watchdog only (see unguessableStatusPath). */
  readonly #statusPath = unguessableStatusPath();

  constructor(options: PhpFpmLauncherOptions) {
    this.#options = options;
  }

  async launch(spec: WorkerSpec): Promise<Worker> {
    const { replicas, runtimeDir, logger } = this.#options;
    const { phpFpm } = replicas;
    const files = phpFpmFiles(runtimeDir, spec.name, spec.incarnation);
    const log = logger.child({ replica: spec.name });
    const asRoot = process.getuid?.() === 0;
    let preload: string[];
    try {
      checkSocketPath(files.socket);
      const pool =
        phpFpm.pool === null
          ? null
          : { path: phpFpm.pool, directives: readFileSync(phpFpm.pool, 'utf8') };
      const text = renderPhpFpmConfig({
        name: spec.name,
        incarnation: spec.incarnation,
        release: spec.release,
        capacity: spec.capacity,
        runtimeDir,
        health: this.#options.health,
        statusPath: this.#statusPath,
        drainTimeoutMs: this.#options.drainTimeoutMs,
        runAs: asRoot ? { user: phpFpm.user, group: phpFpm.group } : null,
        pool,
        slowlogMs: this.#options.slowlogMs ?? null,
      });
      preload = preloadSettings({
        poolDirectives: pool?.directives ?? null,
        release: spec.release,
        symlink: this.#options.releaseSymlink ?? null,
        runAsUser: asRoot ? phpFpm.user : null,
      });
      mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
      writeFileSync(files.config, text, { mode: 0o600 });
      removeOwnStaleSocket(files.socket);
      // A master killed with SIGKILL leaves its pid file, which the start waits for.
      rmSync(files.pid, { force: true });
    } catch (error) {
      throw new WorkerError(
        'ERR_WORKER_SPAWN',
        `cannot prepare php-fpm for ${spec.name}: ${(error as Error).message}`,
        { cause: error },
      );
    }

    const output = new OutputLog({ logger, replica: spec.name });
    const argv: [string, ...string[]] = [
      phpFpm.binary,
      '-F',
      '-O',
      '-y',
      files.config,
      // opcache.preload works only here (the master preloads before it reads its pools).
      ...preload,
    ];
    // -R lets php-fpm run root workers: only when the config says so in as many words
    // (allow_root_workers); otherwise a root `user` was refused when the config was read.
    if (asRoot && phpFpm.allowRootWorkers) argv.push('-R');
    const spawned = spawnWorkerProcess({ argv, stdin: 'ignore', output, logger });
    if (!spawned.ok) {
      removeFiles(files);
      throw await spawned.error;
    }
    const master = spawned.process;
    log.info({ pid: master.pid, config: files.config }, 'php-fpm master started');

    const startTimeoutMs = this.#options.startTimeoutMs ?? START_TIMEOUT_MS;
    // php-fpm writes its pid file once every pool listens (fpm_init): unlike the socket file,
    // which bind() makes before listen(), it means connections are accepted.
    const failure = await waitForStart([master], files.pid, startTimeoutMs, existsSync);
    if (failure !== null) {
      await discardFailedStart([master], output, filesOf(files));
      const exit = master.exit() ?? null;
      throw new WorkerError(
        failure.exit === null ? 'ERR_WORKER_START_TIMEOUT' : 'ERR_WORKER_EXITED',
        failure.exit === null
          ? `php-fpm for ${spec.name} did not listen on ${files.socket} within ${startTimeoutMs} ms`
          : `php-fpm for ${spec.name} exited with ${describeExit(failure.exit)} before listening`,
        { outputTail: output.tail(), exit },
      );
    }
    const worker = new GroupWorker({
      processes: [master],
      socket: files.socket,
      files: filesOf(files),
      output,
      log,
      drainTimeoutMs: this.#options.drainTimeoutMs,
      table: PHP_FPM_STOP_TABLE,
      statusPath: this.#statusPath,
    });
    if ((this.#options.slowlogMs ?? null) !== null) {
      const slowlog = new SlowlogForwarder({ file: files.slowlog, logger, replica: spec.name });
      // Only the master writes the slow log: its exit ends it.
      void worker.exited.then(() => slowlog.close());
    }
    return worker;
  }
}

function filesOf(files: ReturnType<typeof phpFpmFiles>): string[] {
  return [files.config, files.socket, files.pid, files.slowlog];
}

function removeFiles(files: ReturnType<typeof phpFpmFiles>): void {
  for (const path of filesOf(files)) rmSync(path, { force: true });
}
