import { setTimeout as delay } from 'node:timers/promises';

export interface WaitForOptions {
  timeoutMs: number;
  /** Pause between probes; 25 ms unless told. */
  intervalMs?: number;
  /** Names the awaited condition in the timeout error. */
  what: string;
}

/**
 * Polls `probe` until it returns a truthy value and returns that value. A probe that throws
 * counts as "not yet"; its last message is quoted in the timeout error. This is how tests wait:
 * for a condition, within a bound, never for a guessed duration.
 */
export async function waitFor<T>(
  probe: () => T | Promise<T>,
  options: WaitForOptions,
): Promise<NonNullable<T>> {
  const { timeoutMs, intervalMs = 25, what } = options;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value as NonNullable<T>;
    } catch (error) {
      lastError = error;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await delay(Math.min(intervalMs, left));
  }
  const cause =
    lastError === undefined
      ? ''
      : ` (last error: ${lastError instanceof Error ? lastError.message : String(lastError)})`;
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${cause}`);
}
