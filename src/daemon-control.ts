import { existsSync } from 'node:fs';
import type { Balancer } from './balancer/balancer.js';
import { CodedError } from './coded-error.js';
import type { Config } from './config/config-types.js';
import type {
  AwaitRequest,
  ControlHandler,
  DaemonStatus,
  DeployRequest,
  DoneEvent,
  ProgressEvent,
  RestartRequest,
  RollbackRequest,
  UpgradeRequest,
} from './control/messages.js';
import type { OperationLock } from './control/operation-lock.js';
import { replicaProgress } from './control/replica-progress.js';
import { externalReplicaStatus, managedReplicaStatus } from './daemon-status.js';
import { awaitRelease } from './release/await-release.js';
import type { Deployer } from './release/deployer.js';
import type { ReleaseHistory } from './release/release-history.js';
import type { SessionLanes } from './sessions/session-lanes.js';
import { untilConverged } from './supervisor/convergence.js';
import type { Supervisor, SupervisorSettings } from './supervisor/supervisor.js';
import type { Upgrader } from './upgrade/upgrader.js';
import { packageVersion } from './version.js';

export type ControlRequestErrorCode =
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

/** The parts that run managed replicas; null for external ones. */
export interface ManagedParts {
  readonly supervisor: Supervisor;
  readonly deployer: Deployer;
  readonly history: ReleaseHistory;
}

export interface DaemonControlOptions {
  readonly config: Config;
  readonly balancer: Balancer;
  readonly managed: ManagedParts | null;
  readonly lanes: SessionLanes | null;
  /** Taken by deploy, rollback (in the deployer), restart and upgrade: one at a time. */
  readonly lock: OperationLock;
  /** `switchyard upgrade`: a successor on the same sockets. */
  readonly upgrader: Upgrader;
}

/**
 * Answers the control socket from the running parts: status from the supervisor's slots (or
 * the balancer's pools for external replicas), switches through the deployer, restarts
 * through the supervisor, one operation at a time.
 */
export class DaemonControl implements ControlHandler {
  #config: Config;
  readonly #balancer: Balancer;
  readonly #managed: ManagedParts | null;
  readonly #lanes: SessionLanes | null;
  readonly #lock: OperationLock;
  readonly #upgrader: Upgrader;
  readonly #startedAt = Date.now();
  #awaiting = 0;

  constructor(options: DaemonControlOptions) {
    this.#config = options.config;
    this.#balancer = options.balancer;
    this.#managed = options.managed;
    this.#lanes = options.lanes;
    this.#lock = options.lock;
    this.#upgrader = options.upgrader;
  }

  /** Refused (ERR_BUSY) while a switch or restart runs. */
  upgrade(request: UpgradeRequest): Promise<DoneEvent> {
    return this.#upgrader.upgrade(request);
  }

  /** After a reload: status reports the config in force. */
  setConfig(config: Config): void {
    this.#config = config;
  }

  status(): DaemonStatus {
    const config = this.#config;
    const managed = this.#managed;
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
      replicas:
        managed === null
          ? externalReplicaStatus(this.#balancer, this.#startedAt)
          : managedReplicaStatus(managed.supervisor),
      lastDeploy: managed?.history.last() ?? null,
      rollbackTarget:
        managed === null
          ? null
          : managed.history.rollbackTarget(managed.supervisor.desired.release),
      surge: managed?.supervisor.surgeStatus ?? null,
    };
  }

  /** Refusals (busy, a bad target) are thrown synchronously, before anything changes. */
  deploy(request: DeployRequest, onEvent: (event: ProgressEvent) => void): Promise<DoneEvent> {
    const { deployer } = this.#require('deploy');
    return deployer.deploy(request.target, request.force === true, onEvent);
  }

  rollback(_request: RollbackRequest, onEvent: (event: ProgressEvent) => void): Promise<DoneEvent> {
    const { deployer } = this.#require('roll back');
    return deployer.rollback(onEvent);
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
    const { deployer, supervisor, history } = this.#require('wait for a release');
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
        { release: request.release ?? null, timeoutMs: request.timeoutMs, signal },
        onEvent,
      );
    } finally {
      this.#awaiting -= 1;
    }
  }

  async restart(
    request: RestartRequest,
    onEvent: (event: ProgressEvent) => void,
  ): Promise<DoneEvent> {
    const { supervisor } = this.#require('restart them');
    const what = restartName(request, supervisor.desired.count);
    const claim = this.#lock.claim(`a ${what}`);
    try {
      if (!existsSync(supervisor.desired.release)) {
        // Restarted replicas would pin to a directory that is not there and never start.
        throw new ControlRequestError(
          'ERR_RELEASE_GONE',
          `the serving release ${supervisor.desired.release} no longer exists: deploy a release instead of restarting`,
        );
      }
      return await restartReplicas(supervisor, request, what, onEvent);
    } finally {
      claim.release();
    }
  }

  #require(what: string): ManagedParts {
    if (this.#managed === null) {
      throw new ControlRequestError(
        'ERR_NOT_MANAGED',
        `replicas.kind is "external": switchyard does not run these replicas, so it cannot ${what}`,
      );
    }
    return this.#managed;
  }
}

/** "restart", or "restart of replica 2"; refuses a replica that does not exist. */
function restartName(request: RestartRequest, count: number): string {
  if (request.replica === undefined) return 'restart';
  if (request.replica < 1 || request.replica > count) {
    throw new ControlRequestError(
      'ERR_NO_SUCH_REPLICA',
      `there is no replica ${request.replica}: replicas are numbered 1 to ${count}`,
    );
  }
  return `restart of replica ${request.replica}`;
}

/** Restarts one replica or all, one at a time, and waits until every replica is ready. */
async function restartReplicas(
  supervisor: Supervisor,
  request: RestartRequest,
  what: string,
  onEvent: (event: ProgressEvent) => void,
): Promise<DoneEvent> {
  const started = Date.now();
  const unsubscribe = supervisor.onEvent((event) => onEvent(replicaProgress(event)));
  try {
    if (request.replica === undefined) supervisor.restartAll();
    else supervisor.restartSlot(request.replica - 1);
    const replicas = request.replica === undefined ? supervisor.desired.count : 1;
    const outcome = await untilConverged(
      supervisor,
      restartTimeoutMs(supervisor.settings, replicas),
      true,
    );
    const durationMs = Date.now() - started;
    return outcome.ok
      ? { kind: 'done', ok: true, message: `${what} done: every replica is ready`, durationMs }
      : { kind: 'done', ok: false, message: `${what} failed: ${outcome.reason}`, durationMs };
  } finally {
    unsubscribe();
  }
}

/**
 * How long a restart of `replicas` may take. Each replica in turn: drain, graceful stop (then
 * the escalations), launch (bounded by the start timeout too), health.
 */
function restartTimeoutMs(settings: SupervisorSettings, replicas: number): number {
  const perReplica = settings.drainTimeoutMs * 3 + settings.health.startTimeoutMs * 2 + 5_000;
  return perReplica * replicas;
}
