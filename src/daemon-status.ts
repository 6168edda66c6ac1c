import type { Balancer } from './balancer/balancer.js';
import type { ReplicaStatus } from './control/messages.js';
import type { Supervisor } from './supervisor/supervisor.js';

/** Managed replicas as `switchyard status` shows them: the supervisor's slots. */
export function managedReplicaStatus(supervisor: Supervisor): ReplicaStatus[] {
  const now = Date.now();
  return supervisor.snapshot().map((slot) => ({
    name: slot.name,
    state: slot.state,
    pid: slot.pids[0] ?? null,
    pids: slot.pids,
    release: slot.release,
    inFlight: slot.inFlight,
    abandoned: slot.abandoned,
    stuck: slot.stuck,
    // Each entry without its replica's name: the row names it.
    stuckRequests: slot.stuckRequests.map(({ replica: _, ...request }) => request),
    served: slot.served,
    restarts: slot.restarts,
    uptimeMs: slot.readySince === null ? null : now - slot.readySince,
    healthFailures: slot.healthFailures,
    lastError: slot.lastError,
  }));
}

/**
 * External replicas as `switchyard status` shows them: the balancer's pools, up since the
 * daemon started while it reaches them.
 */
export function externalReplicaStatus(balancer: Balancer, startedAt: number): ReplicaStatus[] {
  const now = Date.now();
  return balancer.pools().map((pool) => ({
    name: pool.id,
    state: pool.routing === 'active' ? 'ready' : 'failed',
    pid: null,
    pids: [],
    release: pool.spec.release,
    inFlight: pool.inFlight,
    abandoned: pool.abandoned,
    stuck: pool.stuck,
    served: pool.served,
    restarts: 0,
    uptimeMs: pool.routing === 'active' ? now - startedAt : null,
    healthFailures: 0,
    lastError: pool.routing === 'active' ? null : 'unreachable',
  }));
}
