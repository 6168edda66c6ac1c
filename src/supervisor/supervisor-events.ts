import type { Logger } from 'pino';
import type { ReplicaState } from './replica-state.js';
import type { Slot } from './slot.js';
import type { SurgeChoice } from './surge-chooser.js';
import type { ChangeSource } from './wait-for-state.js';

/** A change in one replica, for logs, progress streams and tests. */
export interface ReplicaEvent {
  readonly kind: 'replica';
  readonly name: string;
  readonly slot: number;
  readonly state: ReplicaState;
  readonly pid: number | null;
  readonly release: string;
  readonly message: string;
}

/** Whether the switch or restart starting now surges, and why (see SurgeChooser). */
export interface SurgeEvent extends SurgeChoice {
  readonly kind: 'surge';
  /** About no replica: listeners that look for a failed replica's state pass over it. */
  readonly state: null;
}

/** What `onEvent` listeners hear: replica steps, and the surge decision of a change. */
export type SupervisorEvent = ReplicaEvent | SurgeEvent;

/** The cut-over of a release change. */
export interface ToggleEvent {
  readonly release: string;
  readonly previous: string | null;
}

/**
 * What the supervisor reports, and to whom: replica steps and surge decisions (`onEvent`),
 * cut-overs (`onToggle`), and "something may have changed" (`onChange`, what waits judge on).
 * A listener that throws is logged; the others still hear.
 */
export class SupervisorEvents {
  readonly #logger: Logger;
  readonly #listeners = new Set<(event: SupervisorEvent) => void>();
  readonly #toggleListeners = new Set<(event: ToggleEvent) => void>();
  readonly #changeListeners = new Set<() => void>();

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  onEvent(listener: (event: SupervisorEvent) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  onToggle(listener: (event: ToggleEvent) => void): () => void {
    this.#toggleListeners.add(listener);
    return () => this.#toggleListeners.delete(listener);
  }

  readonly onChange: ChangeSource = (listener) => {
    this.#changeListeners.add(listener);
    return () => this.#changeListeners.delete(listener);
  };

  /** A slot's step, as it stands now: logged, then told. */
  replica(record: Slot, message: string): void {
    const event: ReplicaEvent = {
      kind: 'replica',
      name: record.name,
      slot: record.slot,
      state: record.state,
      pid: record.worker?.pids[0] ?? null,
      release: record.release,
      message,
    };
    this.#logger.info(
      { replica: record.name, state: record.state, pid: event.pid, release: record.release },
      message,
    );
    this.#tell(event);
  }

  surge(choice: SurgeChoice): void {
    this.#logger.info({ surge: choice.surge, change: choice.change }, choice.message);
    this.#tell({ ...choice, kind: 'surge', state: null });
  }

  toggled(event: ToggleEvent): void {
    this.#logger.info(event, 'cut-over: new requests go to the new release');
    for (const listener of this.#toggleListeners) {
      this.#guarded('a cut-over listener failed', () => listener(event));
    }
    this.changed();
  }

  changed(): void {
    for (const listener of this.#changeListeners) {
      this.#guarded('a change listener failed', listener);
    }
  }

  /** Listeners first, then the change: a waiter judging on a step has heard the step. */
  #tell(event: SupervisorEvent): void {
    for (const listener of this.#listeners) {
      this.#guarded('a replica event listener failed', () => listener(event));
    }
    this.changed();
  }

  #guarded(what: string, call: () => void): void {
    try {
      call();
    } catch (error) {
      this.#logger.error({ err: (error as Error).message }, what);
    }
  }
}
