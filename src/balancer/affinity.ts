/**
 * Session affinity by rendezvous hashing: each replica scores each session, and the session
 * goes to the best-scoring replica that can take it. A replica leaving (drained, restarted,
 * dead) moves only its own sessions, each to its next best; a replica coming back gets the
 * same ones again, since a replica is scored by its slot name, not by its incarnation.
 */

/** A replica's seed from its slot name (`replica-1`): FNV-1a, then mixed. */
export function affinitySeed(name: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i += 1) {
    hash ^= name.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return mix(hash);
}

/** The score of a session's point on a replica's seed: higher wins. */
export function affinityScore(point: number, seed: number): number {
  return mix(point ^ seed);
}

/**
 * The most a replica may hold and still take a session's request, in consistent hashing with
 * bounded loads (Mirrokni, Thorup, Zadimoghaddam): `factor` times the mean load counting
 * the new request, rounded up. The least-loaded replica is always within it.
 */
export function loadBound(totalInFlight: number, replicas: number, factor: number): number {
  return Math.ceil((factor * (totalInFlight + 1)) / Math.max(replicas, 1));
}

/** murmur3's 32-bit finaliser: every input bit moves every output bit. */
function mix(value: number): number {
  let h = value >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
