import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CodedError } from '../../src/coded-error.js';
import type {
  ControlHandler,
  DaemonStatus,
  DoneEvent,
  ProgressEvent,
  ReplicaProgressEvent,
  RestartRequest,
} from '../../src/control/messages.js';

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
  };
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

/**
 * A ControlHandler whose restart runs `script`, refusing (as the daemon will) a second
 * restart while one runs and a replica number beyond its two replicas.
 */
export class ScriptedHandler implements ControlHandler {
  readonly requests: RestartRequest[] = [];
  statusAnswer: () => DaemonStatus = sampleStatus;
  script: RestartScript = async () => ({
    kind: 'done',
    ok: true,
    message: 'nothing to do',
    durationMs: 1,
  });
  #running = false;

  status(): DaemonStatus {
    return this.statusAnswer();
  }

  async restart(
    request: RestartRequest,
    onEvent: (event: ProgressEvent) => void,
  ): Promise<DoneEvent> {
    this.requests.push(request);
    if (this.#running) {
      throw new CodedError('ERR_BUSY', 'a restart is already running');
    }
    if (request.replica !== undefined && request.replica > 2) {
      throw new CodedError(
        'ERR_NO_SUCH_REPLICA',
        `replica ${request.replica} does not exist (2 replicas)`,
      );
    }
    this.#running = true;
    try {
      return await this.script(request, onEvent);
    } finally {
      this.#running = false;
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
