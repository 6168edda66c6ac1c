/** Subscribes a listener to a change notification; returns its unsubscribe. */
export type ChangeSource = (listener: () => void) => () => void;

export interface StateWaitOptions<T> {
  /** Fires after anything the judge reads may have changed. */
  readonly changes: ChangeSource;
  /** Asked now and after every change: any answer but undefined ends the wait with it. */
  readonly judge: () => T | undefined;
  readonly timeoutMs: number;
  /** The answer once `timeoutMs` passes without one. */
  readonly onTimeout: () => T;
  /** Aborting ends the wait with the signal's reason (a newer target, say). */
  readonly signal?: AbortSignal | undefined;
}

/**
 * The one way to wait for the system to reach a state ("converged", "idle", "this release
 * serves"): event-driven, never a poll, and bounded. The judge only reads; it runs inside
 * whatever fired the change, so it must not act.
 */
export function waitForState<T>(options: StateWaitOptions<T>): Promise<T> {
  const { changes, judge, timeoutMs, onTimeout, signal } = options;
  return new Promise<T>((resolve, reject) => {
    let settled = false;
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      clearTimeout(timer);
      unsubscribe();
      signal?.removeEventListener('abort', aborted);
      return true;
    };
    const finish = (answer: T): void => {
      if (settle()) resolve(answer);
    };
    const ask = (): void => {
      if (settled) return;
      let answer: T | undefined;
      try {
        answer = judge();
      } catch (error) {
        // A judge that throws ends the wait with its error: no listener or timer is left.
        if (settle()) reject(error);
        return;
      }
      if (answer !== undefined) finish(answer);
    };
    const aborted = (): void => finish(signal?.reason as T);
    const unsubscribe = changes(ask);
    const timer = setTimeout(() => finish(onTimeout()), Math.max(0, timeoutMs));
    if (signal?.aborted === true) {
      aborted();
      return;
    }
    signal?.addEventListener('abort', aborted, { once: true });
    ask();
  });
}
