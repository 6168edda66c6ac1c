import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CodedError } from '../../src/coded-error.js';
import { ControlServer } from '../../src/control/control-server.js';
import type {
  AwaitRequest,
  ControlHandler,
  DaemonStatus,
  DeployRecord,
  DeployRequest,
  DoneEvent,
  ProgressEvent,
  ReplicaProgressEvent,
  RestartRequest,
  RollbackRequest,
} from '../../src/control/messages.js';
import { silentLogger } from '../../src/log.js';

// What the control socket tests share: a scripted stand-in for the daemon's ControlHandler,
// a sample status, and a config file naming a control socket.

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
}

export function deferred<T = void>(): Deferred<T> {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((settle) => {
    resolve = settle;
  });
  return { promise, resolve };
}

export function sampleStatus(): DaemonStatus {
  return {
    version: '0.1.0',
    pid: 4242,
    uptimeMs: 7_512_000,
    kind: 'external',
    symlink: '/srv/app/current',
    servingRelease: '/srv/app/releases/42',
    queued: 0,
    replicas: [
      {
        name: 'replica-1',
        state: 'ready',
        pid: 1301,
        pids: [1301, 1302],
        release: '/srv/app/releases/42',
        inFlight: 3,
        abandoned: 1,
        stuck: 1,
        stuckRequests: [
          {
            pid: 1302,
            script: '/srv/app/current/report.php',
            uri: '/report.php?id=7',
            elapsedMs: 63_000,
            session: '3fa2c1d04b9e',
            held: 'stuck',
            blockedOn: 'waiting on PHP session lock 3fa2c1d04b9e',
          },
        ],
        served: 1520,
        restarts: 0,
        uptimeMs: 192_000,
        healthFailures: 0,
        lastError: null,
      },
      {
        name: 'replica-2',
        state: 'backing-off',
        pid: null,
        pids: [],
        release: '/srv/app/releases/41',
        inFlight: 0,
        served: 1400,
        restarts: 2,
        uptimeMs: null,
        healthFailures: 3,
        lastError: 'exited with code 255\nPHP Fatal error:  Uncaught Error in /srv/app/index.php:3',
      },
    ],
    lastDeploy: sampleDeployRecord(),
    rollbackTarget: '/srv/app/releases/41',
  };
}

/** The deploy of release 42 (from 41) that sampleStatus() reports as its last one. */
export function sampleDeployRecord(overrides: Partial<DeployRecord> = {}): DeployRecord {
  return {
    trigger: 'deploy',
    release: '/srv/app/releases/42',
    previous: '/srv/app/releases/41',
    ok: true,
    startedAt: '2026-03-01T10:00:00.000Z',
    durationMs: 12_345,
    message: 'switched to /srv/app/releases/42',
    ...overrides,
  };
}

/** The cut-over line of a switch from `previous` to `release`. */
export function toggle(
  release: string,
  previous: string | null = '/srv/app/releases/42',
): Extract<ProgressEvent, { kind: 'toggle' }> {
  return { kind: 'toggle', release, previous, message: `cut-over: new requests go to ${release}` };
}

export function progress(
  name: string,
  state: ReplicaProgressEvent['state'],
  pid: number | null,
  message: string,
  release: string | null = '/srv/app/releases/42',
): ReplicaProgressEvent {
  return { kind: 'replica', name, state, pid, release, message };
}

export type RestartScript = (
  request: RestartRequest,
  onEvent: (event: ProgressEvent) => void,
) => Promise<DoneEvent>;

export type DeployScript = (
  request: DeployRequest,
  onEvent: (event: ProgressEvent) => void,
) => Promise<DoneEvent>;

export type RollbackScript = (onEvent: (event: ProgressEvent) => void) => Promise<DoneEvent>;

export type AwaitScript = (
  request: AwaitRequest,
  onEvent: (event: ProgressEvent) => void,
  signal: AbortSignal,
) => Promise<DoneEvent>;

/**
 * A ControlHandler whose restart, deploy and rollback run their scripts, refusing (as the
 * daemon will) an operation while another runs, a replica number beyond its two replicas,
 * and a rollback while the status has no rollback target. A script that throws a
 * CodedError before its first event is a refusal (a bad deploy target: ERR_DEPLOY_TARGET).
 */
export class ScriptedHandler implements ControlHandler {
  /** Restart requests, in order (refused ones too). */
  readonly requests: RestartRequest[] = [];
  readonly deployRequests: DeployRequest[] = [];
  readonly rollbackRequests: RollbackRequest[] = [];
  statusAnswer: () => DaemonStatus = sampleStatus;
  script: RestartScript = async () => ({
    kind: 'done',
    ok: true,
    message: 'nothing to do',
    durationMs: 1,
  });
  /** By default: a cut-over to the target, then done. */
  deployScript: DeployScript = async (request, onEvent) => {
    onEvent(toggle(request.target));
    return { kind: 'done', ok: true, message: `switched to ${request.target}`, durationMs: 1 };
  };
  /** By default: a cut-over to the status's rollback target, then done. */
  rollbackScript: RollbackScript = async (onEvent) => {
    const target = this.statusAnswer().rollbackTarget ?? '';
    onEvent(toggle(target));
    return { kind: 'done', ok: true, message: `switched to ${target}`, durationMs: 1 };
  };
  readonly awaitRequests: AwaitRequest[] = [];
  /** By default: the release (or `/srv/app/releases/43`) serves already. */
  awaitScript: AwaitScript = async (request) => ({
    kind: 'done',
    ok: true,
    message: `every replica serves ${request.release ?? '/srv/app/releases/43'}`,
    durationMs: 1,
  });
  #running: 'restart' | 'deploy' | 'rollback' | null = null;

  status(): DaemonStatus {
    return this.statusAnswer();
  }

  async restart(
    request: RestartRequest,
    onEvent: (event: ProgressEvent) => void,
  ): Promise<DoneEvent> {
    this.requests.push(request);
    this.#refuseWhileBusy();
    if (request.replica !== undefined && request.replica > 2) {
      throw new CodedError(
        'ERR_NO_SUCH_REPLICA',
        `replica ${request.replica} does not exist (2 replicas)`,
      );
    }
    return this.#run('restart', () => this.script(request, onEvent));
  }

  async deploy(
    request: DeployRequest,
    onEvent: (event: ProgressEvent) => void,
  ): Promise<DoneEvent> {
    this.deployRequests.push(request);
    this.#refuseWhileBusy();
    return this.#run('deploy', () => this.deployScript(request, onEvent));
  }

  async rollback(
    request: RollbackRequest,
    onEvent: (event: ProgressEvent) => void,
  ): Promise<DoneEvent> {
    this.rollbackRequests.push(request);
    this.#refuseWhileBusy();
    if (this.statusAnswer().rollbackTarget === null) {
      throw new CodedError('ERR_NO_ROLLBACK_TARGET', 'there is no earlier release to roll back to');
    }
    return this.#run('rollback', () => this.rollbackScript(onEvent));
  }

  /** Not refused while another operation runs: a wait changes nothing. */
  awaitRelease(
    request: AwaitRequest,
    onEvent: (event: ProgressEvent) => void,
    signal: AbortSignal,
  ): Promise<DoneEvent> {
    this.awaitRequests.push(request);
    return this.awaitScript(request, onEvent, signal);
  }

  #refuseWhileBusy(): void {
    if (this.#running !== null) {
      throw new CodedError('ERR_BUSY', `a ${this.#running} is already running`);
    }
  }

  async #run(
    operation: 'restart' | 'deploy' | 'rollback',
    script: () => Promise<DoneEvent>,
  ): Promise<DoneEvent> {
    this.#running = operation;
    try {
      return await script();
    } finally {
      this.#running = null;
    }
  }
}

/**
 * Writes `<dir>/switchyard.toml` (external replicas, a real release symlink) whose control
 * socket is `socketPath`; `extra` lines go at the end. Returns the file's path.
 */
export function writeControlConfig(
  dir: string,
  socketPath: string,
  extra: readonly string[] = [],
): string {
  mkdirSync(join(dir, 'releases', 'r1'), { recursive: true });
  try {
    symlinkSync(join(dir, 'releases', 'r1'), join(dir, 'current'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const path = join(dir, 'switchyard.toml');
  const lines = [
    '[listen]',
    `fastcgi = "unix:${join(dir, 'front.sock')}"`,
    '[release]',
    `symlink = "${join(dir, 'current')}"`,
    '[replicas]',
    'kind = "external"',
    'addresses = ["unix:/x/a.sock", "unix:/x/b.sock"]',
    '[control]',
    `socket = "${socketPath}"`,
    ...extra,
  ];
  writeFileSync(path, `${lines.join('\n')}\n`);
  return path;
}

let standIns = 0;

/**
 * A fresh directory under `parent` with a config file naming its own control socket and,
 * unless `listening` is false, a ControlServer on it answering with `handler`, pushed on
 * `servers` for the caller to close.
 */
export async function daemonStandIn(
  parent: string,
  servers: ControlServer[],
  handler = new ScriptedHandler(),
  options: { listening?: boolean; extra?: readonly string[] } = {},
): Promise<{ dir: string; config: string; socket: string; handler: ScriptedHandler }> {
  standIns += 1;
  const dir = join(parent, `d${standIns}`);
  mkdirSync(dir);
  const socket = join(dir, 'control.sock');
  const config = writeControlConfig(dir, socket, options.extra);
  if (options.listening !== false) {
    servers.push(
      await ControlServer.start({ socket, mode: 0o600, group: null }, handler, silentLogger()),
    );
  }
  return { dir, config, socket, handler };
}
