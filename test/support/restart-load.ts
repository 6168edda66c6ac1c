import { ControlClient } from '../../src/control/control-client.js';
import type { DaemonStatus } from '../../src/control/messages.js';
import { type DeployLoad, startDeployLoad } from './deploy-load.js';
import type { HttpLoadResponse } from './http-load.js';
import { RELEASE_HEADER } from './php-fpm-daemon.js';
import { waitFor } from './wait-for.js';

/** Steady fast requests through the web server: 8 at a time, small pages, no sleeps. */
export function startSteadyLoad(url: string): DeployLoad {
  return startDeployLoad({
    url,
    releaseHeader: RELEASE_HEADER,
    concurrency: 8,
    pathFor: () => '/index.php',
  });
}

/** The status of the daemon answering on `controlSocket` once it is `pid`, every replica ready. */
export function daemonServing(
  controlSocket: string,
  pid: number,
  timeoutMs = 60_000,
): Promise<DaemonStatus> {
  const client = new ControlClient(controlSocket, { timeoutMs: 5_000 });
  return waitFor(
    async () => {
      const status = await client.status();
      return status.pid === pid &&
        status.replicas.length > 0 &&
        status.replicas.every((replica) => replica.state === 'ready')
        ? status
        : null;
    },
    { timeoutMs, what: `daemon ${pid} to serve with every replica ready`, intervalMs: 100 },
  );
}

/** Waits until the daemon `pid` on `controlSocket` has answered `count` more requests. */
export async function servedMore(
  controlSocket: string,
  pid: number,
  count: number,
  timeoutMs = 60_000,
): Promise<void> {
  const client = new ControlClient(controlSocket, { timeoutMs: 5_000 });
  const served = async () => {
    const status = await client.status();
    if (status.pid !== pid) return null;
    return status.replicas.reduce((sum, replica) => sum + replica.served, 0);
  };
  const from = (await waitFor(served, { timeoutMs, what: `daemon ${pid} to answer status` })) ?? 0;
  await waitFor(async () => ((await served()) ?? 0) >= from + count, {
    timeoutMs,
    what: `daemon ${pid} to serve ${count} more requests`,
    intervalMs: 100,
  });
}

/** The longest latency of any request, and the median, in ms: the stall a restart caused. */
export function stall(batches: readonly HttpLoadResponse[][]): {
  longestMs: number;
  medianMs: number;
  requests: number;
} {
  const latencies = batches
    .flat()
    .map((response) => response.latencyMs)
    .sort((a, b) => a - b);
  return {
    longestMs: Math.round(latencies.at(-1) ?? 0),
    medianMs: Math.round(latencies[Math.floor(latencies.length / 2)] ?? 0),
    requests: latencies.length,
  };
}
