import type { ReplicaPool } from '../balancer/replica-pool.js';
import type { HealthMonitor } from './health-monitor.js';
import type { ReplicaView } from './plan.js';
import type { ReplicaState } from './replica-state.js';
import type { StuckDiagnoser, StuckDiagnosis } from './stuck-diagnosis-report.js';
import type { StuckHistory } from './stuck-replacement.js';
import type { StuckWatch } from './stuck-watch.js';
import type { Worker } from './workers/worker.js';

/** One slot's record: the only mutable replica state in the daemon (the supervisor's alone). */
export interface Slot {
  readonly slot: number;
  readonly name: string;
  state: ReplicaState;
  release: string;
  /** The generation it started for; -1 marks it for replacement (restart of one replica). */
  generation: number;
  incarnation: number;
  worker: Worker | null;
  /** Settles when the current launch has a worker (or failed): a stop waits for it. */
  launching: Promise<Worker | null> | null;
  pool: ReplicaPool | null;
  healthFailures: number;
  /** Periodic health checks while ready. */
  monitor: HealthMonitor | null;
  /** Looks for stuck requests while ready. */
  stuckWatch: StuckWatch | null;
  /** This incarnation has `stuck_workers` stuck slots: it is being replaced. */
  stuck: boolean;
  /** Its replacement waits until then (a slot stuck again backs off); null: at once. */
  replaceNotBefore: number | null;
  /** The slot's stuck replacements, for the back-off of one stuck again. */
  stuckHistory: StuckHistory;
  /** The latest diagnosis of its stuck requests, for status. */
  stuckRequests: readonly StuckDiagnosis[];
  /** Diagnoses its stuck requests while ready, one at a time. */
  diagnoser: StuckDiagnoser | null;
  drainingSince: number | null;
  backoffUntil: number | null;
  /** Failures in a row: the back-off exponent; cleared once a start passes its health check. */
  failuresInRow: number;
  /** Restarts after a crash or a failed health check, for status. */
  restarts: number;
  readySince: number | null;
  /** Requests served by earlier incarnations. */
  servedBefore: number;
  lastError: string | null;
}

/** What status and the control socket see of a slot. */
export interface SlotSnapshot {
  readonly name: string;
  readonly slot: number;
  readonly state: ReplicaState;
  readonly pids: readonly number[];
  readonly release: string;
  readonly inFlight: number;
  readonly served: number;
  readonly restarts: number;
  readonly readySince: number | null;
  readonly healthFailures: number;
  readonly lastError: string | null;
  readonly generation: number;
  /** Slots whose clients left while the worker runs on (see ReplicaPool). */
  readonly abandoned: number;
  /** Slots given up on: taken until the replica is replaced. */
  readonly stuck: number;
  readonly stuckRequests: readonly StuckDiagnosis[];
}

/** A slot's name, as status, logs and the replica's environment show it: `replica-1`. */
export function slotName(slot: number): string {
  return `replica-${slot + 1}`;
}

export function newSlot(slot: number, release: string): Slot {
  return {
    slot,
    name: slotName(slot),
    state: 'starting',
    release,
    generation: 0,
    incarnation: 0,
    worker: null,
    launching: null,
    pool: null,
    healthFailures: 0,
    monitor: null,
    stuckWatch: null,
    stuck: false,
    replaceNotBefore: null,
    stuckHistory: { inRow: 0, lastAt: null },
    stuckRequests: [],
    diagnoser: null,
    drainingSince: null,
    backoffUntil: null,
    failuresInRow: 0,
    restarts: 0,
    readySince: null,
    servedBefore: 0,
    lastError: null,
  };
}

/** What the planner is shown of a slot. */
export function toView(record: Slot): ReplicaView {
  return {
    slot: record.slot,
    state: record.state,
    release: record.release,
    generation: record.generation,
    healthFailures: record.healthFailures,
    inFlight: record.pool?.inFlight ?? 0,
    drainingSince: record.drainingSince,
    backoffUntil: record.backoffUntil,
    restarts: record.failuresInRow,
    stuck: record.stuck,
    replaceNotBefore: record.replaceNotBefore,
  };
}

export function toSnapshot(record: Slot): SlotSnapshot {
  return {
    name: record.name,
    slot: record.slot,
    state: record.state,
    pids: record.worker?.pids ?? [],
    release: record.release,
    inFlight: record.pool?.inFlight ?? 0,
    served: record.servedBefore + (record.pool?.served ?? 0),
    restarts: record.restarts,
    readySince: record.readySince,
    healthFailures: record.healthFailures,
    lastError: record.lastError,
    generation: record.generation,
    abandoned: record.pool?.abandoned ?? 0,
    stuck: record.pool?.stuck ?? 0,
    stuckRequests: record.stuckRequests,
  };
}
