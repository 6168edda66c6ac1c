import { existsSync } from 'node:fs';
import type { Balancer } from './balancer/balancer.js';
import { CodedError } from './coded-error.js';
import type { Config } from './config/schema.js';
import type {
  AwaitRequest,
  ControlHandler,
  DaemonStatus,
  DeployRequest,
  DoneEvent,
  ProgressEvent,
  ReplicaStatus,
  RestartRequest,
  RollbackRequest,
} from './control/messages.js';
import { replicaProgress } from './control/replica-progress.js';
import { awaitRelease } from './release/await-release.js';
import type { Deployer } from './release/deployer.js';
import type { ReleaseHistory } from './release/release-history.js';
import type { SessionLanes } from './sessions/session-lanes.js';
import type { Supervisor } from './supervisor/supervisor.js';
import { packageVersion } from './version.js';

export type ControlRequestErrorCode =
  | 'ERR_BUSY'
  | 'ERR_NO_SUCH_REPLICA'
  | 'ERR_NOT_MANAGED'
  | 'ERR_RELEASE_GONE'
  | 'ERR_TOO_MANY_AWAITS';

/**
 * `switchyard await`s held at once. Each holds a control connection for up to its timeout;
 * the bound leaves the CLI room on the socket (64 connections) whatever a script does.
 */
const MAX_AWAITS = 16;

/** A control request the daemon refuses; the control server answers with its code. */
export class ControlRequestError extends CodedError<ControlRequestErrorCode> {
  override readonly name = 'ControlRequestError';
}

/**
 * Answers the control socket from the running parts: status from the supervisor's slots (or
 * the balancer's pools for external replicas), restarts through the supervisor, one
 * operation at a time.
 */
export class DaemonControl implements ControlHandler {
  #config: Config;
  readonly #balancer: Balancer;
  readonly #supervisor: Supervisor | null;
  readonly #deployer: Deployer | null;
  readonly #history: ReleaseHistory | null;
  readonly #lanes: SessionLanes | null;
  readonly #startedAt = Date.now();
  #operation: string | null = null;
  #awaiting = 0;

  constructor(
    config: Config,
    balancer: Balancer,
    managed: { supervisor: Supervisor; deployer: Deployer; history: ReleaseHistory } | null,
    lanes: SessionLanes | null = null,
  ) {
    this.#config = config;
    this.#lanes = lanes;
    this.#balancer = balancer;
    this.#supervisor = managed?.supervisor ?? null;
    this.#deployer = managed?.deployer ?? null;
    this.#history = managed?.history ?? null;
  }

  /** A restart, deploy or rollback (from the socket or a followed symlink flip) is running. */
  get busy(): boolean {
    return this.#operation !== null || this.#deployer?.busy === true;
  }

  /** After a reload: status reports the config in force. */
  setConfig(config: Config): void {
    this.#config = config;
  }

  status(): DaemonStatus {
    const config = this.#config;
    return {
      version: packageVersion(),
      pid: process.pid,
      uptimeMs: Date.now() - this.#startedAt,
      kind: config.replicas.kind,
      symlink: config.release.symlink,
      servingRelease: this.#balancer.servingRelease,
      queued: this.#balancer.queued,
      sessions:
        this.#lanes === null || config.sessions === null
          ? null
          : {
              perSession: config.sessions.perSession,
              affinity: config.sessions.affinity,
              ...this.#lanes.snapshot(),
            },
      replicas: this.#supervisor === null ? this.#externalReplicas() : this.#managedReplicas(),
      lastDeploy: this.#history?.last() ?? null,
      rollbackTarget:
        this.#supervisor === null
          ? null
          : (this.#history?.rollbackTarget(this.#supervisor.desired.release) ?? null),
      surge: this.#supervisor?.surgeStatus ?? null,
    };
  }

  deploy(request: DeployRequest, onEvent: (event: ProgressEvent) => void): Promise<DoneEvent> {
    const deployer = this.#requireDeployer('deploy');
    return this.#exclusive(`a deploy of ${request.target}`, () =>
      deployer.deploy(request.target, request.force === true, onEvent),
    );
  }

  rollback(_request: RollbackRequest, onEvent: (event: ProgressEvent) => void): Promise<DoneEvent> {
    const deployer = this.#requireDeployer('roll back');
    return this.#exclusive('a rollback', () => deployer.rollback(onEvent));
  }

  /**
   * Not an exclusive operation: it changes nothing itself (at most it follows the symlink
   * before the watcher does), so it runs beside a switch, which is what it waits for.
   */
  async awaitRelease(
    request: AwaitRequest,
    onEvent: (event: ProgressEvent) => void,
    signal: AbortSignal,
  ): Promise<DoneEvent> {
    const deployer = this.#requireDeployer('wait for a release');
    const supervisor = this.#supervisor as Supervisor;
    const history = this.#history as ReleaseHistory;
    if (this.#awaiting >= MAX_AWAITS) {
      throw new ControlRequestError(
        'ERR_TOO_MANY_AWAITS',
        `${MAX_AWAITS} \`switchyard await\`s are waiting already; try again when one has ended`,
      );
    }
    this.#awaiting += 1;
    try {
      return await awaitRelease(
        { deployer, supervisor, history, symlink: this.#config.release.symlink },
        {
          release: request.release ?? null,
          timeoutMs: request.timeoutMs,
          signal,
        },
        onEvent,
      );
    } finally {
      this.#awaiting -= 1;
    }
  }

  #requireDeployer(what: string): Deployer {
    if (this.#deployer === null) {
      throw new ControlRequestError(
        'ERR_NOT_MANAGED',
        `replicas.kind is "external": switchyard does not run these replicas, so it cannot ${what}`,
      );
    }
    return this.#deployer;
  }

  /** One operation from the control socket at a time; refusals are thrown synchronously. */
  async #exclusive(what: string, run: () => Promise<DoneEvent>): Promise<DoneEvent> {
    if (this.#operation !== null || this.#deployer?.busy === true) {
      throw new ControlRequestError(
        'ERR_BUSY',
        `${this.#operation ?? 'a release switch'} is running; try again when it has finished`,
      );
    }
    this.#operation = what;
    try {
      return await run();
    } finally {
      this.#operation = null;
    }
  }

  async restart(
    request: RestartRequest,
    onEvent: (event: ProgressEvent) => void,
  ): Promise<DoneEvent> {
    const supervisor = this.#supervisor;
    if (supervisor === null) {
      throw new ControlRequestError(
        'ERR_NOT_MANAGED',
        'replicas.kind is "external": switchyard does not run these replicas, so it cannot restart them',
      );
    }
    const { count } = supervisor.desired;
    if (request.replica !== undefined && (request.replica < 1 || request.replica > count)) {
      throw new ControlRequestError(
        'ERR_NO_SUCH_REPLICA',
        `there is no replica ${request.replica}: replicas are numbered 1 to ${count}`,
      );
    }
    if (this.#operation !== null || this.#deployer?.busy === true) {
      throw new ControlRequestError(
        'ERR_BUSY',
        `${this.#operation ?? 'a release switch'} is running; try again when it has finished`,
      );
    }
    if (!existsSync(supervisor.desired.release)) {
      // Restarted replicas would pin to a directory that is not there and never start.
      throw new ControlRequestError(
        'ERR_RELEASE_GONE',
        `the serving release ${supervisor.desired.release} no longer exists: deploy a release instead of restarting`,
      );
    }
    const what =
      request.replica === undefined ? 'restart' : `restart of replica ${request.replica}`;
    this.#operation = `a ${what}`;
    const started = Date.now();
    const unsubscribe = supervisor.onEvent((event) => onEvent(replicaProgress(event)));
    try {
      if (request.replica === undefined) supervisor.restartAll();
      else supervisor.restartSlot(request.replica - 1);
      const { drainTimeoutMs, health } = supervisor.settings;
      // Each replica in turn: drain, graceful stop (then the escalations), launch (bounded by
      // the start timeout too), health.
      const perReplica = drainTimeoutMs * 3 + health.startTimeoutMs * 2 + 5_000;
      const replicas = request.replica === undefined ? count : 1;
      const outcome = await supervisor.whenConverged(perReplica * replicas, true);
      const durationMs = Date.now() - started;
      const done: DoneEvent = outcome.ok
        ? { kind: 'done', ok: true, message: `${what} done: every replica is ready`, durationMs }
        : { kind: 'done', ok: false, message: `${what} failed: ${outcome.reason}`, durationMs };
      return done;
    } finally {
      unsubscribe();
      this.#operation = null;
    }
  }

  #managedReplicas(): ReplicaStatus[] {
    const now = Date.now();
    return (this.#supervisor?.snapshot() ?? []).map((slot) => ({
      name: slot.name,
      state: slot.state,
      pid: slot.pids[0] ?? null,
      pids: slot.pids,
      release: slot.release,
      inFlight: slot.inFlight,
      served: slot.served,
      restarts: slot.restarts,
      uptimeMs: slot.readySince === null ? null : now - slot.readySince,
      healthFailures: slot.healthFailures,
      lastError: slot.lastError,
    }));
  }

  #externalReplicas(): ReplicaStatus[] {
    const now = Date.now();
    return this.#balancer.pools().map((pool) => ({
      name: pool.id,
      state: pool.routing === 'active' ? 'ready' : 'failed',
      pid: null,
      pids: [],
      release: pool.spec.release,
      inFlight: pool.inFlight,
      served: pool.served,
      restarts: 0,
      uptimeMs: pool.routing === 'active' ? now - this.#startedAt : null,
      healthFailures: 0,
      lastError: pool.routing === 'active' ? null : 'unreachable',
    }));
  }
}
