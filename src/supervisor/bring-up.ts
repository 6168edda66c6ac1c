import type { HealthConfig } from '../config/config-types.js';
import { type HealthEvent, HealthMonitor } from './health-monitor.js';
import { warmUp } from './warm-up.js';
import type { Worker } from './workers/worker.js';

export interface BringUpSettings {
  readonly health: HealthConfig;
  readonly warmup: readonly string[];
  readonly warmupTimeoutMs: number;
}

/**
 * How a start ended. `abandoned`: it was no longer wanted (a stop or a failure took over, or
 * the daemon is closing); whoever took over deals with the worker.
 */
export type BringUpOutcome =
  | { readonly kind: 'ready'; readonly worker: Worker }
  | { readonly kind: 'failed'; readonly reason: string; readonly worker: Worker | null }
  | { readonly kind: 'abandoned' };

export interface BringUpHooks {
  /** Still meant to start: asked after every step; false ends it as `abandoned`. */
  readonly wanted: () => boolean;
  /** The worker runs: the caller watches its exit from here on. */
  readonly onLaunched: (worker: Worker) => void;
}

/**
 * One start of a replica: the launch, health checks until one passes (bounded by the start
 * timeout), then warm-up. Acts on nothing but the worker's socket: the caller applies the
 * outcome to the slot.
 */
export async function bringUp(
  launch: Promise<Worker>,
  release: string,
  settings: BringUpSettings,
  hooks: BringUpHooks,
): Promise<BringUpOutcome> {
  const { wanted } = hooks;
  let worker: Worker;
  try {
    worker = await launch;
  } catch (error) {
    if (!wanted()) return { kind: 'abandoned' };
    return { kind: 'failed', reason: `did not start: ${(error as Error).message}`, worker: null };
  }
  if (!wanted()) return { kind: 'abandoned' };
  hooks.onLaunched(worker);

  // The start-up checks end in `healthy` or `start-timeout`; null: no longer wanted.
  const verdict = await new Promise<HealthEvent | null>((resolve) => {
    const monitor = new HealthMonitor(worker.address, release, settings.health, (event) => {
      if (event.kind === 'healthy' || event.kind === 'start-timeout') resolve(event);
    });
    monitor.watchStartUp(() => {
      if (wanted()) return true;
      resolve(null);
      return false;
    });
  });
  if (verdict === null || !wanted()) return { kind: 'abandoned' };
  if (verdict.kind !== 'healthy') return { kind: 'failed', reason: verdict.reason, worker };
  const warmUpFailure = await warmUp(
    worker.address,
    release,
    settings.warmup,
    settings.warmupTimeoutMs,
  );
  if (!wanted()) return { kind: 'abandoned' };
  if (warmUpFailure !== null) return { kind: 'failed', reason: warmUpFailure, worker };
  return { kind: 'ready', worker };
}
