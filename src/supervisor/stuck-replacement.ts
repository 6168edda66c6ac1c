import { type BackoffPolicy, backoffDelay } from './backoff.js';

/**
 * Back-off between replacements of a slot stuck again and again: the application itself
 * hangs (every worker it gets blocks), and replacing it in a loop would only cut the
 * requests of each new incarnation. 10 s, 20 s, 40 s … 10 min, with jitter.
 */
export const STUCK_BACKOFF: BackoffPolicy = { baseMs: 10_000, maxMs: 600_000 };

/** A replica stuck within this of its slot's previous stuck replacement is "stuck again". */
export function stuckAgainWindowMs(stuckAfterMs: number): number {
  return stuckAfterMs + STUCK_BACKOFF.maxMs;
}

export interface StuckHistory {
  /** Stuck replacements of the slot in a row (each within the window of the one before). */
  readonly inRow: number;
  /** When the previous one was decided, or null. */
  readonly lastAt: number | null;
}

export interface ReplacementDecision {
  readonly history: StuckHistory;
  /** Not before this: `now` for a first replacement, later for a slot stuck again. */
  readonly notBefore: number;
  /** How long it waits, 0 for a first replacement. */
  readonly delayMs: number;
}

/** Pure: when a replica found stuck at `now` is replaced, given its slot's history. */
export function decideReplacement(
  history: StuckHistory,
  now: number,
  stuckAfterMs: number,
  random: number,
): ReplacementDecision {
  const again = history.lastAt !== null && now - history.lastAt < stuckAgainWindowMs(stuckAfterMs);
  const inRow = again ? history.inRow + 1 : 1;
  const delayMs = inRow === 1 ? 0 : backoffDelay(inRow - 2, random, STUCK_BACKOFF);
  return { history: { inRow, lastAt: now }, notBefore: now + delayMs, delayMs };
}
