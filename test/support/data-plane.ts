import { join } from 'node:path';
import { Balancer } from '../../src/balancer/balancer.js';
import { FastCgiFrontend } from '../../src/frontend/fastcgi-frontend.js';
import { HttpFrontend } from '../../src/frontend/http-frontend.js';
import { silentLogger } from '../../src/log.js';
import type { ExchangeOutcome } from '../../src/request/exchange.js';
import { makeReleasePinning } from '../../src/request/release-pinning.js';

export interface DataPlaneOptions {
  readonly dir: string;
  readonly replicas: ReadonlyArray<{
    socket: string;
    capacity: number;
    release: string;
    /** The replica's release header line (`releaseHeaderBytes`); none when omitted. */
    responseHeader?: Buffer | null;
    /** Managed (replaced when stuck): a given-up slot stays taken. */
    replaceable?: boolean;
  }>;
  readonly symlink: string;
  readonly queue?: number;
  readonly queueTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
  readonly retryBodyBytes?: number;
  readonly probeIntervalMs?: number;
  readonly abandonAfterMs?: number;
  /** Also start the HTTP front on 127.0.0.1, port 0 (document root: the symlink). */
  readonly http?: boolean;
}

export interface RunningDataPlane {
  readonly socket: string;
  readonly balancer: Balancer;
  readonly frontend: FastCgiFrontend;
  readonly outcomes: ExchangeOutcome[];
  /** The HTTP front, when `http` was asked for; `url` is `http://127.0.0.1:PORT`. */
  readonly http: { readonly frontend: HttpFrontend; readonly url: string } | null;
  stop(): void;
}

/** The front end and the balancer wired in-process over external replicas, as the daemon does. */
export async function startDataPlane(options: DataPlaneOptions): Promise<RunningDataPlane> {
  const logger = silentLogger();
  const balancer = new Balancer({
    queue: options.queue ?? 1024,
    queueTimeoutMs: options.queueTimeoutMs ?? 5_000,
    idleTimeoutMs: 30_000,
    connectTimeoutMs: 2_000,
    probeIntervalMs: options.probeIntervalMs ?? 100,
    ...(options.abandonAfterMs === undefined ? {} : { abandonAfterMs: options.abandonAfterMs }),
    logger,
  });
  const releases = options.replicas.map((r) => r.release);
  options.replicas.forEach((replica, i) => {
    balancer.add({
      id: `r${i}`,
      address: { kind: 'unix', path: replica.socket },
      capacity: replica.capacity,
      release: replica.release,
      pinning: makeReleasePinning(options.symlink, replica.release, releases),
      ...(replica.responseHeader === undefined ? {} : { responseHeader: replica.responseHeader }),
      ...(replica.replaceable === undefined ? {} : { replaceable: replica.replaceable }),
    });
  });
  const outcomes: ExchangeOutcome[] = [];
  const socket = join(options.dir, 'switchyard.sock');
  const frontend = await FastCgiFrontend.start({ kind: 'unix', path: socket }, 0o666, {
    dispatcher: balancer,
    logger,
    limits: {
      maxParamsBytes: 1024 * 1024,
      retryBodyBytes: options.retryBodyBytes ?? 1024 * 1024,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      maxAttempts: 3,
      maxConns: 1024,
      maxReqs: 1024,
      requestsPerConnection: 16,
      connectionBufferBytes: 3 * 1024 * 1024,
      paramsTimeoutMs: 10_000,
      clientIdleTimeoutMs: 120_000,
    },
    onOutcome: (_exchange, outcome) => outcomes.push(outcome),
  });
  const httpFrontend = options.http
    ? await HttpFrontend.start(
        { kind: 'tcp', host: '127.0.0.1', port: 0 },
        {
          dispatcher: balancer,
          logger,
          limits: {
            maxConnections: 1024,
            clientIdleTimeoutMs: 120_000,
            retryBodyBytes: options.retryBodyBytes ?? 1024 * 1024,
            requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
            maxAttempts: 3,
          },
          site: { documentRoot: options.symlink, index: 'index.php' },
          onOutcome: (_exchange, outcome) => outcomes.push(outcome),
        },
      )
    : null;
  return {
    socket,
    balancer,
    frontend,
    outcomes,
    http:
      httpFrontend === null
        ? null
        : { frontend: httpFrontend, url: `http://127.0.0.1:${httpFrontend.port}` },
    stop: () => {
      frontend.stopAccepting();
      frontend.destroyAll();
      httpFrontend?.stopAccepting();
      httpFrontend?.destroyAll();
      balancer.close();
    },
  };
}
