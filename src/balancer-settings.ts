import type { Logger } from 'pino';
import type { BalancerOptions } from './balancer/balancer.js';
import type { Config } from './config/config-types.js';

/** How often a replica out of rotation (it refused a connection) is probed. */
const PROBE_INTERVAL_MS = 1_000;

/** The balancer's bounds and routing from the config: [limits], [replicas], [sessions], [watchdog]. */
export function balancerOptions(config: Config, logger: Logger): BalancerOptions {
  const { replicas } = config;
  return {
    queue: config.limits.queue,
    queueTimeoutMs: config.limits.queueTimeoutMs,
    idleTimeoutMs: replicas.idleTimeoutMs,
    connectTimeoutMs: replicas.connectTimeoutMs,
    probeIntervalMs: PROBE_INTERVAL_MS,
    abandonAfterMs: config.watchdog.abandonAfterMs,
    affinity:
      config.sessions?.affinity === 'session' ? { loadFactor: config.sessions.affinityLoad } : null,
    logger,
  };
}
