import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Logger } from 'pino';
import type { ListenAddress } from '../../config/address.js';
import type { HealthConfig, PhpFpmReplicasConfig } from '../../config/schema.js';
import { OutputLog } from './output-log.js';
import { phpFpmFiles, renderPhpFpmConfig } from './php-fpm-config.js';
import { preloadSettings } from './php-fpm-preload.js';
import { type StopStep, stopGroups } from './process-stop.js';
import type { Worker, WorkerExit, WorkerLauncher, WorkerSpec, WorkerStopResult } from './worker.js';
import { describeExit, WorkerError } from './worker-error.js';
import { spawnWorkerProcess, type WorkerProcess } from './worker-process.js';
import {
  checkSocketPath,
  removeStaleSocket,
  START_TIMEOUT_MS,
  waitForStart,
} from './worker-start.js';

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
}

/** Graceful (the master lets children finish), then fast (SIGTERM), then the whole group killed. */
const STOP_STEPS: readonly StopStep[] = [
  { signal: 'SIGQUIT', to: 'leader' },
  { signal: 'SIGTERM', to: 'leader' },
  { signal: 'SIGKILL', to: 'group' },
];
/** For children orphaned by a master that died: each finishes its request, or is killed. */
const ORPHAN_STEPS: readonly StopStep[] = [
  { signal: 'SIGQUIT', to: 'group' },
  { signal: 'SIGKILL', to: 'group' },
];

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
        drainTimeoutMs: this.#options.drainTimeoutMs,
        runAs: asRoot ? { user: phpFpm.user, group: phpFpm.group } : null,
        pool,
      });
      preload = preloadSettings({
        poolDirectives: pool?.directives ?? null,
        release: spec.release,
        symlink: this.#options.releaseSymlink ?? null,
        runAsUser: asRoot ? phpFpm.user : null,
      });
      mkdirSync(runtimeDir, { recursive: true, mode: 0o700 });
      writeFileSync(files.config, text, { mode: 0o600 });
      removeStaleSocket(files.socket);
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
    const failure = await waitForStart([master], files.socket, startTimeoutMs);
    if (failure !== null) {
      // Whatever is left of it: SIGKILL the group, then read what it said before it died.
      await stopGroups([master], [{ signal: 'SIGKILL', to: 'group' }], 0);
      await output.drained(1_000);
      removeFiles(files);
      const exit = master.exit() ?? null;
      throw new WorkerError(
        failure.exit === null ? 'ERR_WORKER_START_TIMEOUT' : 'ERR_WORKER_EXITED',
        failure.exit === null
          ? `php-fpm for ${spec.name} did not create ${files.socket} within ${startTimeoutMs} ms`
          : `php-fpm for ${spec.name} exited with ${describeExit(failure.exit)} before listening`,
        { outputTail: output.tail(), exit },
      );
    }
    return new PhpFpmWorker(master, files, output, log, this.#options.drainTimeoutMs);
  }
}

/**
 * A running php-fpm master and its children (all in the master's process group).
 *
 * `exited` settles when the master exits. If that happens without stop() (a crash, `kill -9`),
 * its children are orphans still holding the listening socket and maybe finishing requests:
 * the worker then sends SIGQUIT to the group (each child finishes its current request and
 * exits) and SIGKILLs the group after the drain timeout, so no child of a dead master stays.
 */
class PhpFpmWorker implements Worker {
  readonly address: ListenAddress;
  readonly pids: readonly number[];
  readonly exited: Promise<WorkerExit>;
  readonly #master: WorkerProcess;
  readonly #files: ReturnType<typeof phpFpmFiles>;
  readonly #output: OutputLog;
  readonly #log: Logger;
  #stopping: Promise<WorkerStopResult> | null = null;

  constructor(
    master: WorkerProcess,
    files: ReturnType<typeof phpFpmFiles>,
    output: OutputLog,
    log: Logger,
    drainTimeoutMs: number,
  ) {
    this.#master = master;
    this.#files = files;
    this.#output = output;
    this.#log = log;
    this.address = { kind: 'unix', path: files.socket };
    this.pids = [master.pid];
    this.exited = master.exited;
    void master.exited.then(async (exit) => {
      if (this.#stopping !== null) return;
      log.warn(
        { pid: exit.pid, code: exit.code, signal: exit.signal },
        'php-fpm master exited unexpectedly; stopping its orphaned children',
      );
      const outcome = await stopGroups([master], ORPHAN_STEPS, drainTimeoutMs);
      this.#reportStragglers(outcome.stragglers);
      if (this.#stopping === null) removeFiles(files);
    });
  }

  stop(graceMs: number): Promise<WorkerStopResult> {
    this.#stopping ??= (async () => {
      const outcome = await stopGroups([this.#master], STOP_STEPS, graceMs);
      this.#reportStragglers(outcome.stragglers);
      removeFiles(this.#files);
      this.#log.info({ pid: this.#master.pid, forced: outcome.forced }, 'php-fpm master stopped');
      return { forced: outcome.forced };
    })();
    return this.#stopping;
  }

  outputTail(): string {
    return this.#output.tail();
  }

  #reportStragglers(stragglers: readonly number[]): void {
    if (stragglers.length > 0) {
      this.#log.error({ pids: stragglers }, 'php-fpm processes survived SIGKILL');
    }
  }
}

function removeFiles(files: ReturnType<typeof phpFpmFiles>): void {
  for (const path of [files.config, files.socket, files.pid]) rmSync(path, { force: true });
}
