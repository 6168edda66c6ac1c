import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { ProtocolStatus, RecordType } from '../../src/protocol/constants.js';
import { encodeEndRequestBody } from '../../src/protocol/record-bodies.js';
import { RecordDecoder } from '../../src/protocol/record-decoder.js';
import { encodeRecord, encodeStream } from '../../src/protocol/record-encoder.js';
import type {
  Worker,
  WorkerExit,
  WorkerLauncher,
  WorkerSpec,
  WorkerStopResult,
} from '../../src/supervisor/workers/worker.js';

/** How a fake worker answers health checks: 200, 503, or not at all. */
export type FakeHealth = 'pass' | 'fail' | 'silent';

/** How one launch goes: it throws `launchError`, or starts a worker answering `health`. */
export interface FakeLaunch {
  readonly health: FakeHealth;
  readonly launchError?: string;
}

/** Fake pids, above any Linux pid_max: nothing can signal a real process with them. */
let nextPid = 5_000_000;

/**
 * A worker with no process: an in-process FastCGI server on its own unix socket. Health
 * checks (a request naming `healthPath`) are answered as `health` says, the body `pong`; any
 * other request is held until the worker stops, so it stays in flight.
 */
export class FakeWorker implements Worker {
  readonly address: { readonly kind: 'unix'; readonly path: string };
  readonly pids: readonly number[];
  readonly statusPath = null;
  readonly spec: WorkerSpec;
  readonly exited: Promise<WorkerExit>;
  health: FakeHealth;
  /** When each health check arrived (Date.now()). */
  readonly healthChecks: number[] = [];
  /** When stop() was called, or null. */
  stoppedAt: number | null = null;
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();
  #exit: (exit: WorkerExit) => void = () => {};

  private constructor(server: Server, path: string, spec: WorkerSpec, health: FakeHealth) {
    this.#server = server;
    this.address = { kind: 'unix', path };
    this.pids = [nextPid++];
    this.spec = spec;
    this.health = health;
    this.exited = new Promise((resolve) => {
      this.#exit = resolve;
    });
  }

  static async start(
    path: string,
    spec: WorkerSpec,
    health: FakeHealth,
    healthPath: string,
  ): Promise<FakeWorker> {
    const server = createServer();
    const worker = new FakeWorker(server, path, spec, health);
    server.on('connection', (socket) => worker.#serve(socket, Buffer.from(healthPath)));
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return worker;
  }

  /** The process dies on its own: its exit is reported, its connections cut. */
  crash(code: number): void {
    this.#close();
    this.#exit({ pid: this.pids[0] ?? 0, code, signal: null });
  }

  stop(_graceMs: number): Promise<WorkerStopResult> {
    this.stoppedAt ??= Date.now();
    this.#close();
    this.#exit({ pid: this.pids[0] ?? 0, code: null, signal: 'SIGQUIT' });
    return Promise.resolve({ forced: false });
  }

  outputTail(): string {
    return `fake ${this.spec.name}.${this.spec.incarnation} on ${this.spec.release}`;
  }

  #close(): void {
    this.#server.close();
    for (const socket of this.#sockets) socket.destroy();
  }

  #serve(socket: Socket, healthPath: Buffer): void {
    this.#sockets.add(socket);
    socket.on('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {});
    const params = new Map<number, Buffer[]>();
    const decoder = new RecordDecoder((type, requestId, content) => {
      if (type === RecordType.Params) {
        params.set(requestId, [...(params.get(requestId) ?? []), content]);
        return;
      }
      if (type !== RecordType.Stdin || content.length > 0) return;
      const isHealthCheck = Buffer.concat(params.get(requestId) ?? []).includes(healthPath);
      params.delete(requestId);
      if (isHealthCheck) this.healthChecks.push(Date.now());
      if (!isHealthCheck || this.health === 'silent') return;
      socket.write(
        this.health === 'pass'
          ? cgiAnswer(requestId, 'Content-Type: text/plain', 'pong')
          : cgiAnswer(requestId, 'Status: 503 Service Unavailable', 'not yet'),
      );
    });
    socket.on('data', (chunk: Buffer) => decoder.write(chunk));
  }
}

/**
 * A WorkerLauncher of fake workers, for the supervisor's reactions in milliseconds. `plan`
 * decides each launch (by default: it starts and passes its health checks).
 */
export class FakeLauncher implements WorkerLauncher {
  readonly workers: FakeWorker[] = [];
  plan: (spec: WorkerSpec) => FakeLaunch = () => ({ health: 'pass' });
  readonly #dir: string;
  readonly #healthPath: string;

  constructor(dir: string, healthPath: string) {
    this.#dir = dir;
    this.#healthPath = healthPath;
  }

  async launch(spec: WorkerSpec): Promise<Worker> {
    const launch = this.plan(spec);
    if (launch.launchError !== undefined) throw new Error(launch.launchError);
    const path = join(this.#dir, `${spec.name}.${spec.incarnation}.sock`);
    const worker = await FakeWorker.start(path, spec, launch.health, this.#healthPath);
    this.workers.push(worker);
    return worker;
  }

  /** The latest worker of a slot (`replica-1`). */
  latest(name: string): FakeWorker {
    const worker = this.workers.filter((candidate) => candidate.spec.name === name).at(-1);
    if (worker === undefined) throw new Error(`no worker of ${name} was launched`);
    return worker;
  }
}

function cgiAnswer(requestId: number, head: string, body: string): Buffer {
  return Buffer.concat([
    encodeStream(RecordType.Stdout, requestId, Buffer.from(`${head}\r\n\r\n${body}`), true),
    encodeRecord(
      RecordType.EndRequest,
      requestId,
      encodeEndRequestBody(0, ProtocolStatus.RequestComplete),
    ),
  ]);
}
