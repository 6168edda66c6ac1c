/**
 * Whether the balancer sends new requests to a replica. The supervisor owns the process
 * states; this is only the data plane's view of one replica.
 *
 * - active: takes new requests (when it serves the serving release)
 * - unreachable: a connect failed; out of rotation and probed until it answers again
 * - draining: finishes what it has, takes nothing new
 * - removed: gone from the balancer; its last requests may still finish
 */
export type ReplicaRouting = 'active' | 'unreachable' | 'draining' | 'removed';

const ALLOWED: Record<ReplicaRouting, readonly ReplicaRouting[]> = {
  active: ['unreachable', 'draining', 'removed'],
  unreachable: ['active', 'draining', 'removed'],
  draining: ['removed'],
  removed: [],
};

export function canTransition(from: ReplicaRouting, to: ReplicaRouting): boolean {
  return ALLOWED[from].includes(to);
}
