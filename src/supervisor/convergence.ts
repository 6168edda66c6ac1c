import type { DesiredState } from './plan.js';
import type { Slot } from './slot.js';
import type { SupervisorEvent } from './supervisor-events.js';
import { type ChangeSource, waitForState } from './wait-for-state.js';

/** Whether a slot runs the desired release and generation (ready or not). */
export function isCurrent(record: Slot, desired: DesiredState): boolean {
  return record.release === desired.release && record.generation === desired.generation;
}

/** Every in-count replica ready on the desired release and generation, nothing else left. */
export function isConverged(
  desired: DesiredState,
  slots: ReadonlyMap<number, Slot>,
  serving: string | null,
): boolean {
  if (serving !== desired.release) return false;
  for (let slot = 0; slot < desired.count; slot += 1) {
    const record = slots.get(slot);
    if (record === undefined || record.state !== 'ready' || !isCurrent(record, desired)) {
      return false;
    }
  }
  return [...slots.keys()].every((slot) => slot < desired.count);
}

/**
 * Whether a switch or restart is still being carried out: the balancer serves another
 * release than the desired one, or a replica is not on the desired release and generation.
 */
export function changeUnderWay(
  desired: DesiredState,
  slots: ReadonlyMap<number, Slot>,
  serving: string | null,
): boolean {
  if (serving !== desired.release) return true;
  return [...slots.values()].some((record) => !isCurrent(record, desired));
}

/** What `untilConverged` reads of the supervisor. */
export interface Converging {
  readonly onChange: ChangeSource;
  onEvent(listener: (event: SupervisorEvent) => void): () => void;
  isConverged(): boolean;
}

export type ConvergeOutcome = { ok: true } | { ok: false; reason: string };

/**
 * Resolves ok once converged, not ok when `timeoutMs` passes or, with `failFast`, a replica
 * fails (the supervisor keeps trying; the caller reports).
 */
export function untilConverged(
  supervisor: Converging,
  timeoutMs: number,
  failFast = false,
): Promise<ConvergeOutcome> {
  let failure: ConvergeOutcome | undefined;
  const unsubscribe = supervisor.onEvent((event) => {
    if (failFast && event.state === 'failed') failure ??= { ok: false, reason: event.message };
  });
  return waitForState<ConvergeOutcome>({
    changes: supervisor.onChange,
    judge: () => failure ?? (supervisor.isConverged() ? { ok: true } : undefined),
    timeoutMs,
    onTimeout: () => ({ ok: false, reason: `not converged within ${timeoutMs} ms` }),
  }).finally(unsubscribe);
}
