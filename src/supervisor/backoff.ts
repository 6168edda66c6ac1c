export interface BackoffPolicy {
  readonly baseMs: number;
  readonly maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, maxMs: 30_000 };

/**
 * Delay before restart attempt `attempt` (0 = first retry): exponential, capped, with "equal
 * jitter" (half fixed, half random) so replicas that failed together do not restart in step
 * yet never retry at once. `random` is in [0, 1), passed in to keep this pure.
 */
export function backoffDelay(attempt: number, random: number, policy = DEFAULT_BACKOFF): number {
  const exponential = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.max(0, attempt));
  return Math.round(exponential / 2 + (exponential / 2) * random);
}
