import type { SurgeSetting } from '../config/config-types.js';
import { readAvailableMemory } from './available-memory.js';
import { measureReplicas } from './replica-memory.js';
import type { Slot } from './slot.js';
import {
  decideSurge,
  fixedSurge,
  type SurgeChange,
  type SurgeDecision,
  surgeMessage,
} from './surge-decision.js';

/** A decision as `status` shows it and the progress of a deploy or restart carries it. */
export interface SurgeChoice extends SurgeDecision {
  readonly change: SurgeChange;
  /** `surge: yes (…)`: see surgeMessage. */
  readonly message: string;
  /** When it was made, in ms since the epoch. */
  readonly decidedAt: number;
}

/** What `status` shows of surge: the setting, and the decision of the latest change. */
export interface SurgeStatus {
  readonly setting: SurgeSetting;
  readonly last: {
    readonly surge: boolean;
    readonly reason: string;
    readonly change: SurgeChange;
    readonly message: string;
    /** ISO 8601. */
    readonly decidedAt: string;
  } | null;
}

export interface SurgeRequest {
  readonly change: SurgeChange;
  readonly setting: SurgeSetting;
  readonly marginBytes: number;
  /** Replicas a surge would add at once: `count` for a switch, one for a restart. */
  readonly extraReplicas: number;
  /** The pids switchyard started for each replica serving now: what "auto" measures. */
  readonly replicas: readonly (readonly number[])[];
}

/** What of the supervisor's settings a surge decision reads. */
export interface SurgeSettings {
  readonly count: number;
  readonly surge: SurgeSetting;
  readonly surgeMarginBytes: number;
}

/** The request for a change starting now: the in-count replicas serving are what "auto" measures. */
export function surgeRequestFor(
  change: SurgeChange,
  settings: SurgeSettings,
  slots: Iterable<Slot>,
): SurgeRequest {
  const { count, surge, surgeMarginBytes } = settings;
  const serving = [...slots].filter(
    (record) => record.slot < count && record.state === 'ready' && record.worker !== null,
  );
  return {
    change,
    setting: surge,
    marginBytes: surgeMarginBytes,
    extraReplicas: change === 'switch' ? count : 1,
    replicas: serving.map((record) => record.worker?.pids ?? []),
  };
}

/** Reading /proc takes milliseconds; past this the answer is no surge rather than a stalled switch. */
const MEASURE_TIMEOUT_MS = 2_000;

/**
 * `surge = "auto"`: measures the serving replicas and the available memory, then decides.
 * Never rejects: what cannot be measured is a reason not to surge.
 */
export async function measureAndDecide(
  request: SurgeRequest,
  options: { readonly proc?: string; readonly timeoutMs?: number } = {},
): Promise<SurgeDecision> {
  const proc = options.proc ?? '/proc';
  const timeoutMs = options.timeoutMs ?? MEASURE_TIMEOUT_MS;
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`measuring took longer than ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    const [replicaBytes, available] = await Promise.race([
      Promise.all([measureReplicas(request.replicas, proc), readAvailableMemory(proc)]),
      timedOut,
    ]);
    return decideSurge({
      replicaBytes,
      extraReplicas: request.extraReplicas,
      available,
      marginBytes: request.marginBytes,
    });
  } catch (error) {
    return { surge: false, reason: `could not measure memory: ${(error as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Decides once, when a switch or a rolling restart starts, whether its replacements start
 * beside the old replicas, and keeps that for the whole change: a newer target or the way
 * back after a failure is the same switch (measuring again halfway would count its own spares).
 * A restart's decision does not cover a switch, which adds a whole set. While an "auto"
 * decision is being measured, `pending` tells the supervisor to hold its planning.
 */
export class SurgeChooser {
  readonly #measure: (request: SurgeRequest) => Promise<SurgeDecision>;
  #ticket = 0;
  #pending = false;
  #inForce: SurgeChange | null = null;
  #last: SurgeChoice | null = null;

  constructor(measure: (request: SurgeRequest) => Promise<SurgeDecision> = measureAndDecide) {
    this.#measure = measure;
  }

  get pending(): boolean {
    return this.#pending;
  }

  /** The latest decision, or null before the first change. */
  get last(): SurgeChoice | null {
    return this.#last;
  }

  /** `setting` and the latest decision, as `status` shows them. */
  status(setting: SurgeSetting): SurgeStatus {
    const last = this.#last;
    return {
      setting,
      last:
        last === null
          ? null
          : {
              surge: last.surge,
              reason: last.reason,
              change: last.change,
              message: last.message,
              decidedAt: new Date(last.decidedAt).toISOString(),
            },
    };
  }

  /**
   * A change starts. `underWay`: another was still running when it was asked for.
   * `onChosen` gets the decision (at once for true/false, once measured for "auto"), unless
   * the one in force covers this change.
   */
  choose(request: SurgeRequest, underWay: boolean, onChosen: (choice: SurgeChoice) => void): void {
    const covered =
      underWay &&
      this.#inForce !== null &&
      (this.#inForce === 'switch' || request.change === 'restart');
    if (covered) return;
    this.#ticket += 1;
    const ticket = this.#ticket;
    this.#inForce = request.change;
    const settle = (decision: SurgeDecision): void => {
      if (ticket !== this.#ticket) return; // a later change asked again meanwhile
      this.#pending = false;
      this.#last = {
        ...decision,
        change: request.change,
        message: surgeMessage(decision, request.change),
        decidedAt: Date.now(),
      };
      onChosen(this.#last);
    };
    if (request.setting !== 'auto') {
      this.#pending = false;
      settle(fixedSurge(request.setting));
      return;
    }
    this.#pending = true;
    void this.#measure(request).then(settle, (error: unknown) =>
      settle({ surge: false, reason: `could not measure memory: ${(error as Error).message}` }),
    );
  }

  /** The supervisor is closing: a measurement still under way decides nothing. */
  cancel(): void {
    this.#ticket += 1;
    this.#pending = false;
  }
}
