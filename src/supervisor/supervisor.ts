import type { Logger } from 'pino';
import type { Balancer } from '../balancer/balancer.js';
import type { HealthConfig, SurgeSetting } from '../config/config-types.js';
import { RateLimitedWarning } from '../rate-limited-warning.js';
import { type BackoffPolicy, backoffDelay, DEFAULT_BACKOFF } from './backoff.js';
import { type BringUpOutcome, bringUp } from './bring-up.js';
import { changeUnderWay, isConverged } from './convergence.js';
import { type HealthEvent, HealthMonitor } from './health-monitor.js';
import { KnownReleases } from './known-releases.js';
import { type Action, type DesiredState, plan } from './plan.js';
import { replicaSpecFor } from './replica-spec.js';
import { transition } from './replica-state.js';
import { newSlot, type Slot, type SlotSnapshot, toSnapshot, toView } from './slot.js';
import { type SessionSecrets, StuckDiagnoser } from './stuck-diagnosis-report.js';
import { decideReplacement } from './stuck-replacement.js';
import { type StuckReport, type StuckSettings, StuckWatch } from './stuck-watch.js';
import { type SupervisorEvent, SupervisorEvents, type ToggleEvent } from './supervisor-events.js';
import { SurgeChooser, type SurgeStatus, surgeRequestFor } from './surge-chooser.js';
import type { SurgeChange } from './surge-decision.js';
import type { ChangeSource } from './wait-for-state.js';
import type { Worker, WorkerLauncher } from './workers/worker.js';

/** Each escalation step of a stuck replica's stop (its requests already had drain.timeout). */
const STUCK_STOP_GRACE_MS = 1_000;

/** What the supervisor keeps running; replaced as a whole on a config reload. */
export interface SupervisorSettings {
  readonly count: number;
  readonly capacity: number;
  /** Whether a switch or restart starts replacements beside the old replicas ("auto": if memory allows). */
  readonly surge: SurgeSetting;
  /** With surge = "auto": memory left free beyond what the extra replicas take. */
  readonly surgeMarginBytes: number;
  readonly health: HealthConfig;
  readonly drainTimeoutMs: number;
  readonly launcher: WorkerLauncher;
  /** Requested from each new incarnation after its health check, before it takes traffic. */
  readonly warmup: readonly string[];
  readonly warmupTimeoutMs: number;
  /** `[response] release_header`: added to every response of the replica, or null. */
  readonly releaseHeader: string | null;
  /** `[watchdog]`: when requests count as stuck, and how many make a replica stuck. */
  readonly watchdog: StuckSettings;
}

export interface SupervisorOptions {
  readonly settings: SupervisorSettings;
  readonly balancer: Balancer;
  /** The release symlink: replicas' params are pinned away from it. */
  readonly symlink: string;
  readonly release: string;
  readonly logger: Logger;
  readonly backoff?: BackoffPolicy;
  /** How often the planner runs without an event to wake it (timeouts, back-off). */
  readonly tickMs?: number;
  /**
   * The session lanes' hasher and session parameters: a worker waiting on a session's lock is
   * named by the same hash as its requests, and URIs show no session id. Null: lock waits
   * are reported without the hash.
   */
  readonly sessions?: SessionSecrets | null;
}

/**
 * The one place that acts on replicas. It observes the slots, asks the pure planner what to
 * do, and applies the actions: start a worker and health-check it before it takes traffic,
 * drain through the balancer, stop, back off after failures. Level-based: events (an exit, a
 * health result, a drain finishing) only wake the loop; a tick catches timeouts. What it
 * reports goes out through SupervisorEvents; waiting for a state is waitForState over
 * `onChange` (see convergence.ts); the surge choice is SurgeChooser's, the release memory
 * KnownReleases'.
 */
export class Supervisor {
  readonly #balancer: Balancer;
  readonly #symlink: string;
  readonly #logger: Logger;
  /** Health checks that could not be made for want of descriptors: one line per interval. */
  readonly #descriptorAlarm: RateLimitedWarning;
  readonly #backoff: BackoffPolicy;
  readonly #sessions: SessionSecrets | null;
  readonly #slots = new Map<number, Slot>();
  readonly #events: SupervisorEvents;
  /** Every release a replica was pinned to: their paths are rewritten too (see release-pinning). */
  readonly #knownReleases = new KnownReleases({
    // The desired and the serving release are never forgotten.
    inUse: (release) => release === this.#desired.release || release === this.servingRelease,
    pinnings: () =>
      [...this.#slots.values()].flatMap((record) =>
        record.pool === null ? [] : [record.pool.spec.pinning],
      ),
  });
  readonly #surge = new SurgeChooser();
  #settings: SupervisorSettings;
  #desired: DesiredState;
  #tick: NodeJS.Timeout | null = null;
  #wakeScheduled = false;
  #closed = false;
  readonly #pendingStops = new Set<Promise<void>>();
  #shutdown: Promise<void> | null = null;

  constructor(options: SupervisorOptions) {
    this.#balancer = options.balancer;
    this.#symlink = options.symlink;
    this.#logger = options.logger;
    this.#events = new SupervisorEvents(options.logger);
    this.#descriptorAlarm = new RateLimitedWarning(
      options.logger,
      'ERR_DESCRIPTORS',
      'health checks cannot open a connection: the daemon is out of file descriptors (replicas are not blamed for it)',
    );
    this.#backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.#sessions = options.sessions ?? null;
    this.#settings = options.settings;
    this.#desired = desiredFrom(options.settings, options.release, 1);
    this.#tick = setInterval(() => this.#reconcile(), options.tickMs ?? 250);
    this.#tick.unref();
  }

  get desired(): DesiredState {
    return this.#desired;
  }

  get settings(): SupervisorSettings {
    return this.#settings;
  }

  /** Begins converging; see `untilConverged` to wait for it. */
  start(): void {
    this.#balancer.setServingRelease(this.#desired.release);
    this.#wake();
  }

  onEvent(listener: (event: SupervisorEvent) => void): () => void {
    return this.#events.onEvent(listener);
  }

  /**
   * Fires after every reconcile and every replica step or cut-over: whatever `isConverged`,
   * `snapshot` and `servingRelease` report may have changed. What waitForState waits on.
   */
  get onChange(): ChangeSource {
    return this.#events.onChange;
  }

  onToggle(listener: (event: ToggleEvent) => void): () => void {
    return this.#events.onToggle(listener);
  }

  /** The release new requests go to now. */
  get servingRelease(): string | null {
    return this.#balancer.servingRelease;
  }

  /**
   * Makes every replica rewrite paths into `release` to its own directory, before anything
   * can send such paths (the deployer calls it before it flips the symlink).
   */
  knowRelease(release: string): void {
    this.#knownReleases.know(release);
  }

  /**
   * Converge on `release`: half the replicas come up on it, the balancer toggles to it in one
   * step, then the rest follow (see plan). Setting it again before the cut-over abandons the
   * earlier target: only the latest is ever toggled to.
   */
  setRelease(release: string): void {
    this.knowRelease(release);
    if (release === this.#desired.release) return;
    const underWay = this.#changeUnderWay();
    this.#desired = { ...this.#desired, release };
    this.#chooseSurge('switch', underWay);
  }

  /** Replaces every replica, one at a time (a rolling restart). */
  restartAll(): void {
    const underWay = this.#changeUnderWay();
    this.#desired = { ...this.#desired, generation: this.#desired.generation + 1 };
    this.#chooseSurge('restart', underWay);
  }

  /** Replaces one replica (slot is 0-based); the planner still keeps count-1 ready. */
  restartSlot(slot: number): void {
    const underWay = this.#changeUnderWay();
    const record = this.#slots.get(slot);
    if (record !== undefined) record.generation = -1;
    this.#chooseSurge('restart', underWay);
  }

  /** New settings (a reloaded config): every replica is replaced on them, one at a time. */
  reconfigure(settings: SupervisorSettings): void {
    const underWay = this.#changeUnderWay();
    this.#settings = settings;
    this.#desired = desiredFrom(
      settings,
      this.#desired.release,
      this.#desired.generation + 1,
      this.#desired.surge,
    );
    this.#chooseSurge('restart', underWay);
  }

  /** `[replicas] surge` and the decision the latest switch or restart made with it. */
  get surgeStatus(): SurgeStatus {
    return this.#surge.status(this.#settings.surge);
  }

  /** A switch or restart is still being carried out (or its surge is being decided). */
  #changeUnderWay(): boolean {
    return this.#surge.pending || changeUnderWay(this.#desired, this.#slots, this.servingRelease);
  }

  /**
   * Decides whether the change starting now surges (at once for true/false; "auto" measures
   * the serving replicas and the memory available, and planning waits for the answer), then
   * tells the listeners and wakes the loop.
   */
  #chooseSurge(change: SurgeChange, underWay: boolean): void {
    const request = surgeRequestFor(change, this.#settings, this.#slots.values());
    this.#surge.choose(request, underWay, (choice) => {
      if (this.#closed) return;
      this.#desired = { ...this.#desired, surge: choice.surge };
      this.#events.surge(choice);
      this.#wake();
    });
    this.#wake();
  }

  /** Every in-count replica ready on the desired release and generation, nothing pending. */
  isConverged(): boolean {
    return isConverged(this.#desired, this.#slots, this.servingRelease);
  }

  snapshot(): SlotSnapshot[] {
    return [...this.#slots.values()].sort((a, b) => a.slot - b.slot).map(toSnapshot);
  }

  /**
   * Stops every replica, gracefully within `graceMs` per escalation step (after the fronts
   * have finished their requests); 0 kills at once.
   */
  shutdown(graceMs = this.#settings.drainTimeoutMs): Promise<void> {
    // Once: a second call (a failed start after a failed bring-up) waits for the first.
    this.#shutdown ??= this.#stopAll(graceMs);
    return this.#shutdown;
  }

  async #stopAll(graceMs: number): Promise<void> {
    this.#closed = true;
    this.#surge.cancel();
    if (this.#tick !== null) clearInterval(this.#tick);
    this.#tick = null;
    await Promise.all(
      [...this.#slots.values()].map(async (record) => {
        this.#stopHealthChecks(record);
        this.#removePool(record);
        const worker = record.worker ?? (await record.launching);
        if (worker !== null && worker !== undefined) {
          await worker.stop(graceMs);
        }
      }),
    );
    await Promise.all([...this.#pendingStops]);
  }

  /** Stops under way: shutdown waits for them, and a failure in one is logged, not thrown. */
  #track(work: Promise<unknown>): void {
    const tracked = work.then(
      () => undefined,
      (error: unknown) => {
        this.#logger.error({ err: (error as Error).message }, 'stopping a replica failed');
      },
    );
    this.#pendingStops.add(tracked);
    void tracked.finally(() => this.#pendingStops.delete(tracked));
  }

  #wake(): void {
    if (this.#wakeScheduled || this.#closed) return;
    this.#wakeScheduled = true;
    setImmediate(() => {
      this.#wakeScheduled = false;
      this.#reconcile();
    });
  }

  #reconcile(): void {
    // While a surge decision is measured: a plan made now would guess it.
    if (this.#closed || this.#surge.pending) return;
    const now = Date.now();
    const actions = plan(
      this.#desired,
      [...this.#slots.values()].map(toView),
      now,
      this.#balancer.servingRelease,
    );
    for (const action of actions) this.#apply(action, now);
    this.#events.changed();
  }

  #apply(action: Action, now: number): void {
    switch (action.kind) {
      case 'start':
        this.#start(action.slot, action.release, action.generation);
        return;
      case 'drain':
        this.#drain(this.#require(action.slot), action.reason, now);
        return;
      case 'stop':
        this.#track(this.#stop(this.#require(action.slot), action.force));
        return;
      case 'back-off':
        this.#backOff(this.#require(action.slot), action.attempt, now);
        return;
      case 'remove':
        this.#slots.delete(action.slot);
        this.#wake();
        return;
      case 'toggle':
        this.#toggle(action.release);
        return;
    }
  }

  #start(slot: number, release: string, generation: number): void {
    let record = this.#slots.get(slot);
    if (record === undefined) {
      record = newSlot(slot, release);
      this.#slots.set(slot, record);
    } else {
      record.state = transition(record.state, 'starting');
    }
    record.release = release;
    record.generation = generation;
    record.incarnation += 1;
    record.healthFailures = 0;
    record.backoffUntil = null;
    record.drainingSince = null;
    record.stuck = false;
    record.replaceNotBefore = null;
    record.stuckRequests = [];
    this.#knownReleases.remember(release);
    const incarnation = record.incarnation;
    this.#events.replica(record, `starting on ${release}`);
    const launch = this.#settings.launcher.launch({
      name: record.name,
      incarnation,
      release,
      capacity: this.#settings.capacity,
    });
    record.launching = launch.then(
      (worker) => worker,
      () => null,
    );
    const stillStarting = () =>
      !this.#closed && record.incarnation === incarnation && record.state === 'starting';
    void bringUp(launch, release, this.#settings, {
      wanted: stillStarting,
      onLaunched: (worker) => this.#watchExit(record, incarnation, worker),
    }).then((outcome) => {
      // Asked again: an exit or a stop may have come in the turn since the outcome.
      if (stillStarting()) this.#started(record, outcome);
    });
  }

  /** The current worker's exit while it is meant to run is a failure. */
  #watchExit(record: Slot, incarnation: number, worker: Worker): void {
    record.worker = worker;
    void worker.exited.then((exit) => {
      // Only the slot's current worker, while it is meant to run: an exit after a stop or a
      // failure (its worker was already let go) is expected.
      if (this.#closed || record.incarnation !== incarnation || record.worker !== worker) return;
      if (!['starting', 'ready', 'draining'].includes(record.state)) return;
      const how = exit.signal !== null ? `signal ${exit.signal}` : `code ${exit.code}`;
      this.#fail(record, `process ${exit.pid} exited unexpectedly (${how})`, worker);
    });
  }

  /** Applies a bring-up's outcome; an abandoned one was taken over by a stop or a failure. */
  #started(record: Slot, outcome: BringUpOutcome): void {
    if (outcome.kind === 'ready') this.#becomeReady(record, outcome.worker);
    else if (outcome.kind === 'failed') this.#fail(record, outcome.reason, outcome.worker);
  }

  #toggle(release: string): void {
    const previous = this.#balancer.servingRelease;
    this.#balancer.setServingRelease(release);
    this.#events.toggled({ release, previous });
    this.#wake();
  }

  #becomeReady(record: Slot, worker: Worker): void {
    record.state = transition(record.state, 'ready');
    record.failuresInRow = 0;
    record.readySince = Date.now();
    record.lastError = null;
    record.pool = this.#balancer.add(
      replicaSpecFor(record, worker, {
        count: this.#desired.count,
        capacity: this.#settings.capacity,
        symlink: this.#symlink,
        knownReleases: this.#knownReleases.all,
        releaseHeader: this.#settings.releaseHeader,
      }),
    );
    const incarnation = record.incarnation;
    record.monitor = new HealthMonitor(
      worker.address,
      record.release,
      this.#settings.health,
      (event) => this.#healthReported(record, incarnation, event),
    );
    record.monitor.watchReady();
    record.diagnoser = new StuckDiagnoser(
      record.name,
      worker,
      this.#sessions,
      this.#logger,
      (entries) => {
        record.stuckRequests = entries;
      },
    );
    record.stuckWatch = new StuckWatch(record.pool, this.#settings.watchdog, (report) =>
      this.#stuckReported(record, incarnation, report),
    );
    record.stuckWatch.start();
    this.#events.replica(record, `ready (pid ${worker.pids[0] ?? '?'})`);
    this.#wake();
  }

  /** A ready replica's check: failures in a row are counted; the planner drains past the limit. */
  #healthReported(record: Slot, incarnation: number, event: HealthEvent): void {
    if (record.incarnation !== incarnation || record.state !== 'ready') return;
    if (event.kind === 'healthy') {
      record.healthFailures = 0;
      return;
    }
    if (event.kind === 'inconclusive') {
      // Out of descriptors: the daemon's problem, not the replica's; replacing it would
      // need more of them. Logged once per interval, checked again next time.
      this.#descriptorAlarm.note({ replica: record.name, reason: event.reason });
      return;
    }
    if (event.kind !== 'unhealthy') return;
    record.healthFailures += 1;
    record.lastError = `health check failed: ${event.reason}`;
    this.#logger.warn(
      { replica: record.name, failures: record.healthFailures, reason: event.reason },
      'health check failed',
    );
    this.#wake();
  }

  /**
   * A look at a ready replica's slots found stuck requests (or none any more): each new one is
   * diagnosed and logged once, status shows them all, and at `stuck_workers` the replica is
   * marked for the planner to replace, at once or, stuck again soon after its last
   * replacement, after a back-off.
   */
  #stuckReported(record: Slot, incarnation: number, report: StuckReport): void {
    if (record.incarnation !== incarnation || record.state !== 'ready') return;
    if (report.stuck.length > 0) record.diagnoser?.diagnose(report);
    else {
      // A diagnosis still running must not put back what is over.
      record.diagnoser?.clear();
      record.stuckRequests = [];
    }
    const now = Date.now();
    if (!report.replicaStuck) {
      // Recovered while its replacement waited out a back-off: it keeps its place.
      if (record.stuck && record.replaceNotBefore !== null && record.replaceNotBefore > now) {
        record.stuck = false;
        record.replaceNotBefore = null;
        this.#events.replica(record, 'no longer stuck: its replacement is called off');
      }
      return;
    }
    if (record.stuck) return;
    const { stuckAfterMs } = this.#settings.watchdog;
    const decision = decideReplacement(record.stuckHistory, now, stuckAfterMs, Math.random());
    record.stuck = true;
    record.stuckHistory = decision.history;
    record.replaceNotBefore = decision.notBefore;
    const capacity = record.pool?.spec.capacity ?? this.#settings.capacity;
    const what = `${report.stuck.length} of ${capacity} slots stuck for more than ${Math.round(stuckAfterMs / 1000)} s`;
    record.lastError = what;
    const fields = { replica: record.name, stuck: report.stuck.length, capacity };
    if (decision.delayMs === 0) {
      this.#logger.error(fields, `replica stuck (${what}): replacing it, a replacement first`);
    } else {
      this.#logger.error(
        { ...fields, inRow: decision.history.inRow, delayMs: decision.delayMs },
        `replica stuck again soon after its replacement (${what}): the application itself hangs; next replacement in ${Math.round(decision.delayMs / 1000)} s`,
      );
      setTimeout(() => this.#wake(), decision.delayMs).unref();
    }
    this.#events.replica(record, `stuck (${what})`);
    this.#wake();
  }

  #stopHealthChecks(record: Slot): void {
    record.monitor?.stop();
    record.monitor = null;
    record.stuckWatch?.stop();
    record.stuckWatch = null;
    record.diagnoser?.stop();
    record.diagnoser = null;
  }

  #drain(record: Slot, reason: string, now: number): void {
    record.state = transition(record.state, 'draining');
    record.drainingSince = now;
    record.readySince = null;
    if (reason === 'unhealthy' || reason === 'stuck') record.restarts += 1;
    this.#stopHealthChecks(record);
    const pool = record.pool;
    // Its requests hang: stopped, they are answered, not retried to hang the next replica.
    if (reason === 'stuck' || record.stuck) pool?.refuseRetries();
    this.#events.replica(record, `draining (${reason}, ${pool?.inFlight ?? 0} in flight)`);
    if (pool !== null) void this.#balancer.drain(pool.id).then(() => this.#wake());
  }

  async #stop(record: Slot, force: boolean): Promise<void> {
    if (record.state === 'backing-off') {
      record.state = transition(record.state, 'stopped');
      this.#events.replica(record, 'stopped');
      this.#wake();
      return;
    }
    const incarnation = record.incarnation;
    if (force) {
      this.#logger.warn(
        { replica: record.name, inFlight: record.pool?.inFlight ?? 0 },
        'drain timeout passed with requests in flight: stopping anyway',
      );
    }
    record.state = transition(record.state, 'stopping');
    this.#stopHealthChecks(record);
    this.#removePool(record);
    this.#events.replica(record, 'stopping');
    const worker = record.worker ?? (await record.launching);
    // A stuck replica's requests have had their drain timeout and are hung: a second one for
    // php-fpm's graceful stop would only keep the stuck workers longer.
    const graceMs = record.stuck
      ? Math.min(STUCK_STOP_GRACE_MS, this.#settings.drainTimeoutMs)
      : this.#settings.drainTimeoutMs;
    const result = worker === null ? null : await worker.stop(graceMs);
    if (record.incarnation !== incarnation || record.state !== 'stopping') return;
    record.state = transition(record.state, 'stopped');
    record.worker = null;
    record.launching = null;
    this.#events.replica(record, result?.forced === true ? 'stopped (forced)' : 'stopped');
    this.#wake();
  }

  #backOff(record: Slot, attempt: number, now: number): void {
    const delayMs = backoffDelay(attempt, Math.random(), this.#backoff);
    record.state = transition(record.state, 'backing-off');
    record.backoffUntil = now + delayMs;
    record.restarts += 1;
    this.#events.replica(record, `restarting in ${delayMs} ms`);
    setTimeout(() => this.#wake(), delayMs).unref();
  }

  /** Out of rotation at once; the planner backs off and restarts it. */
  #fail(record: Slot, reason: string, worker: Worker | null = record.worker): void {
    const tail = worker?.outputTail().trim() ?? '';
    record.lastError = tail === '' ? reason : `${reason}\n${tail}`;
    record.state = transition(record.state, 'failed');
    record.failuresInRow += 1;
    record.readySince = null;
    this.#stopHealthChecks(record);
    this.#removePool(record);
    record.worker = null;
    record.launching = null;
    this.#logger.error({ replica: record.name, reason, output: tail }, 'replica failed');
    this.#events.replica(record, reason);
    // A crashed php-fpm master leaves children finishing their requests: stop() lets them.
    if (worker !== null) this.#track(worker.stop(this.#settings.drainTimeoutMs));
    this.#wake();
  }

  #removePool(record: Slot): void {
    if (record.pool === null) return;
    record.servedBefore += record.pool.served;
    this.#balancer.remove(record.pool.id);
    record.pool = null;
  }

  #require(slot: number): Slot {
    const record = this.#slots.get(slot);
    if (record === undefined)
      throw new Error(`the planner named slot ${slot}, which has no record`);
    return record;
  }
}

/** `surge`: the decision in force, kept when the setting is "auto" (decided per change). */
function desiredFrom(
  settings: SupervisorSettings,
  release: string,
  generation: number,
  surge = false,
): DesiredState {
  return {
    count: settings.count,
    release,
    generation,
    surge: settings.surge === 'auto' ? surge : settings.surge,
    drainTimeoutMs: settings.drainTimeoutMs,
    maxHealthFailures: settings.health.failures,
  };
}
