import type { ReplicaState } from './replica-state.js';

/** What the operator wants running. `generation` bumps on every requested restart. */
export type DesiredState = {
  count: number;
  release: string;
  generation: number;
  surge: boolean;
  drainTimeoutMs: number;
  maxHealthFailures: number;
};

/** What the supervisor last observed about one slot. */
export type ReplicaView = {
  /** 0..count-1, or `count` for the surge spare; anything higher is left over from a larger count. */
  slot: number;
  state: ReplicaState;
  release: string;
  generation: number;
  /** Consecutive failed health checks. */
  healthFailures: number;
  inFlight: number;
  drainingSince: number | null;
  backoffUntil: number | null;
  /** Restarts after failures so far; the back-off exponent. */
  restarts: number;
  /** The watchdog found `stuck_workers` of its slots stuck: it is replaced. */
  stuck?: boolean;
  /** A replica stuck again soon after its last replacement waits this long for the next. */
  replaceNotBefore?: number | null | undefined;
};

export type DrainReason = 'outdated' | 'unhealthy' | 'stuck' | 'surplus';

export type Action =
  | { kind: 'start'; slot: number; release: string; generation: number }
  | { kind: 'drain'; slot: number; reason: DrainReason }
  /** `force`: the drain timeout passed with requests still in flight. */
  | { kind: 'stop'; slot: number; force: boolean }
  /** The actor computes delay = min(base * 2^attempt, max) + jitter: the planner stays pure. */
  | { kind: 'back-off'; slot: number; attempt: number }
  /** Forget a stopped slot that is not wanted: the surge spare or a slot beyond count. */
  | { kind: 'remove'; slot: number }
  /**
   * The cut-over of a release change: new requests go to `release` from now on. Not about a
   * slot; `slot` is -1 so the one-action-per-slot rule still holds.
   */
  | { kind: 'toggle'; slot: -1; release: string };

/** States in which a replica is mid-change; a rolling replacement waits for them to settle. */
const UNSETTLED: ReadonlySet<ReplicaState> = new Set([
  'starting',
  'draining',
  'stopping',
  'backing-off',
  'failed',
]);

/**
 * Decides what to do next from desired and observed state alone: no I/O, no clock (`now` is
 * passed in), no randomness. Level-based: the same inputs give the same actions, and applying
 * them then observing again converges on `count` ready replicas on the desired release and
 * generation. At most one action per slot.
 *
 * Capacity rules (ready replicas, counting the spare):
 * - an unhealthy drain leaves at least count-1 ready;
 * - a surplus drain (spare or slot beyond count) leaves at least count ready;
 * - an outdated drain without surge happens only with all count slots ready (leaves count-1);
 * - surge rule: while any in-count replica is outdated, first start the spare at slot `count`
 *   on the desired release/generation; only once the spare is ready and current and all count
 *   slots are ready, drain one outdated replica (leaves count ready: count-1 slots + spare).
 *   When nothing is outdated any more the spare is surplus and is drained (leaves count ready),
 *   stopped and removed. A spare that is itself outdated is surplus too, so it is replaced.
 * Replacement of outdated replicas waits while any replica is starting, draining, stopping,
 * failed or backing-off, or while any other action is planned, so it goes one at a time.
 */
export function plan(
  desired: DesiredState,
  observed: readonly ReplicaView[],
  now: number,
  serving?: string | null,
): Action[] {
  if (serving === undefined || serving === null || serving === desired.release) {
    const actions = planRolling(desired, observed, now, serving !== undefined);
    if (serving === null && observed.some((view) => isReadyOn(view, desired.release))) {
      actions.push({ kind: 'toggle', slot: -1, release: desired.release });
    }
    return actions;
  }
  return planCutOver(desired, observed, now, serving);
}

/**
 * A ready replica that must be replaced: it failed `maxHealthFailures` checks in a row, or
 * the watchdog found it stuck (and a back-off after its last replacement has run out).
 */
function replacementDue(view: ReplicaView, desired: DesiredState, now: number): boolean {
  if (view.state !== 'ready') return false;
  if (view.stuck !== true && view.healthFailures < desired.maxHealthFailures) return false;
  return view.replaceNotBefore == null || view.replaceNotBefore <= now;
}

function isReadyOn(view: ReplicaView, release: string): boolean {
  return view.state === 'ready' && view.release === release;
}

/** How many replicas come up on the new release before the cut-over: half, at least one. */
export function newSideSize(count: number, surge: boolean): number {
  return surge ? count : Math.max(1, Math.floor(count / 2));
}

/**
 * Before the cut-over of a release change (the balancer still serves another release):
 * bring up `newSideSize` replicas on the new release without routing to them, then toggle.
 * Without surge, old replicas are replaced one at a time while the others serve, keeping
 * `count - newSide` serving; with surge, `count` spares start beside them (slots count ..
 * 2count-1), so serving capacity never drops. Replicas on neither release (an abandoned
 * target) are surplus and replaced first.
 */
function planCutOver(
  desired: DesiredState,
  observed: readonly ReplicaView[],
  now: number,
  serving: string,
): Action[] {
  const { count } = desired;
  const target = newSideSize(count, desired.surge);
  const views = uniqueSlots(observed);
  const onNewReady = views.filter((view) => isReadyOn(view, desired.release)).length;
  if (onNewReady >= target) return [{ kind: 'toggle', slot: -1, release: desired.release }];

  const planned = new SlotActions(desired);
  const actions = planned.list;
  const add = (action: Action): void => planned.add(action);
  const start = (slot: number): void => planned.start(slot);
  const lastSlot = desired.surge ? 2 * count - 1 : count - 1;
  const bySlot = new Map(views.map((view) => [view.slot, view]));

  // Replicas taking traffic now, less those a planned drain takes out: never below what
  // the cut-over leaves serving (count - newSide; count with surge).
  let servingLeft = views.filter((view) => isReadyOn(view, serving)).length;
  const minServing = desired.surge ? count : count - target;
  const drainIfAffordable = (view: ReplicaView, reason: DrainReason): void => {
    if (planned.has(view.slot)) return;
    if (view.release === serving) {
      if (servingLeft - 1 < minServing) return;
      servingLeft -= 1;
    }
    add({ kind: 'drain', slot: view.slot, reason });
  };

  for (const view of views) {
    const unwanted = view.slot > lastSlot;
    const removeStopped = unwanted || (view.slot >= count && !desired.surge);
    const action = lifecycleAction(view, desired, now, unwanted, removeStopped);
    if (action !== null) add(action);
    else if (view.state !== 'ready') continue;
    // A ready replica beyond the wanted slots (a slot over a reduced count, a spare of an
    // abandoned surge) goes; with surge, a spare on another release (a restart's spare)
    // makes room for a new one.
    else if (unwanted) drainIfAffordable(view, 'surplus');
    // An unhealthy or stuck replica is replaced during a switch too (on the new release).
    else if (replacementDue(view, desired, now)) {
      drainIfAffordable(view, view.stuck === true ? 'stuck' : 'unhealthy');
    } else if (desired.surge && view.slot >= count && view.release !== desired.release) {
      drainIfAffordable(view, 'outdated');
    }
  }
  for (let slot = 0; slot <= lastSlot; slot += 1) {
    if (!bySlot.has(slot) && (slot < count || desired.surge)) start(slot);
  }
  if (desired.surge) return actions;

  // Without surge: replace one replica at a time, the one least useful first (a ready one on
  // an abandoned target takes no traffic), only when everything else has settled.
  const settled =
    actions.length === 0 && views.every((view) => !UNSETTLED.has(view.state) || view.slot >= count);
  if (!settled) return actions;
  const onNew = views.filter((view) => view.slot < count && view.release === desired.release);
  if (onNew.length >= target) return actions;
  const replaceable = views.filter(
    (view) => view.slot < count && view.state === 'ready' && view.release !== desired.release,
  );
  // One on an abandoned target first: it takes no traffic, so replacing it costs nothing.
  const victim = replaceable.find((view) => view.release !== serving) ?? replaceable[0];
  if (victim !== undefined) drainIfAffordable(victim, 'outdated');
  return actions;
}

/**
 * What a slot needs whatever the rollout: a failure backs off (the only way out of failed,
 * even for an unwanted slot), a back-off that has run out restarts, a drained replica stops
 * (forced after the drain timeout), an unwanted start or back-off stops, a stopped slot
 * restarts or is forgotten. Null for ready and stopping: the caller decides those.
 */
function lifecycleAction(
  view: ReplicaView,
  desired: DesiredState,
  now: number,
  unwanted: boolean,
  removeStopped: boolean,
): Action | null {
  const { slot } = view;
  const start: Action = {
    kind: 'start',
    slot,
    release: desired.release,
    generation: desired.generation,
  };
  switch (view.state) {
    case 'failed':
      return { kind: 'back-off', slot, attempt: view.restarts };
    case 'backing-off':
      if (unwanted) return { kind: 'stop', slot, force: false };
      return view.backoffUntil === null || view.backoffUntil <= now ? start : null;
    case 'stopped':
      return removeStopped ? { kind: 'remove', slot } : start;
    case 'draining':
      if (view.inFlight <= 0) return { kind: 'stop', slot, force: false };
      if (view.drainingSince !== null && view.drainingSince + desired.drainTimeoutMs <= now) {
        return { kind: 'stop', slot, force: true };
      }
      return null;
    case 'starting':
      // Not taking traffic yet, so an unwanted one can stop without draining.
      return unwanted ? { kind: 'stop', slot, force: false } : null;
    case 'ready':
    case 'stopping':
      return null;
  }
}

/** The actions planned so far: at most one per slot, the first one planned wins. */
class SlotActions {
  readonly list: Action[] = [];
  readonly #slots = new Set<number>();
  readonly #desired: DesiredState;

  constructor(desired: DesiredState) {
    this.#desired = desired;
  }

  has(slot: number): boolean {
    return this.#slots.has(slot);
  }

  add(action: Action): void {
    if (this.#slots.has(action.slot)) return;
    this.#slots.add(action.slot);
    this.list.push(action);
  }

  /** Start `slot` on the desired release and generation. */
  start(slot: number): void {
    const { release, generation } = this.#desired;
    this.add({ kind: 'start', slot, release, generation });
  }
}

function uniqueSlots(observed: readonly ReplicaView[]): ReplicaView[] {
  const bySlot = new Map<number, ReplicaView>();
  for (const view of [...observed].sort((a, b) => a.slot - b.slot)) {
    if (Number.isInteger(view.slot) && view.slot >= 0 && !bySlot.has(view.slot)) {
      bySlot.set(view.slot, view);
    }
  }
  return [...bySlot.values()];
}

/**
 * Steady state and rolling replacement (restarts, and the rest of a release change after its
 * cut-over). `afterCutOver`: replicas on another release take no traffic any more, so they
 * are all drained at once instead of one at a time.
 */
function planRolling(
  desired: DesiredState,
  observed: readonly ReplicaView[],
  now: number,
  afterCutOver: boolean,
): Action[] {
  const { count } = desired;
  const planned = new SlotActions(desired);
  const actions = planned.list;
  const add = (action: Action): void => planned.add(action);

  // Duplicate slots would be a bug upstream; the first view of a slot wins.
  const views = uniqueSlots(observed);
  const bySlot = new Map(views.map((view) => [view.slot, view]));

  const isCurrent = (view: ReplicaView): boolean =>
    view.release === desired.release && view.generation === desired.generation;
  const outdatedReady = views.filter(
    (view) => view.slot < count && view.state === 'ready' && !isCurrent(view),
  );
  // Unhealthy or stuck replicas are replaced replacement first: the spare starts, and only
  // once it is ready does the failing one drain, so capacity holds.
  const failing = views.filter((view) => view.slot < count && replacementDue(view, desired, now));
  // The spare is wanted only while a surge or failure replacement has work left.
  const spareWanted = (desired.surge && outdatedReady.length > 0) || failing.length > 0;
  const isSurplus = (view: ReplicaView): boolean =>
    view.slot > count || (view.slot === count && (!spareWanted || !isCurrent(view)));

  // Ready replicas that no planned action takes out of rotation. After a cut-over only those
  // on the new release take traffic; the others are drained all at once below.
  let readyLeft = views.filter(
    (view) => view.state === 'ready' && (!afterCutOver || view.release === desired.release),
  ).length;
  const drain = (slot: number, reason: DrainReason, minLeft: number): void => {
    if (planned.has(slot) || readyLeft - 1 < minLeft) return;
    readyLeft -= 1;
    add({ kind: 'drain', slot, reason });
  };
  const start = (slot: number): void => planned.start(slot);
  // The spare first; once it is ready and current, the failing replica drains (leaving count
  // ready, or count-1 when another slot is down too). A spare that cannot come up (failed,
  // backing off) must not keep a failing replica in rotation: it drains anyway.
  const anotherSlotDown = (slot: number): boolean =>
    Array.from({ length: count }, (_, other) => other).some(
      (other) => other !== slot && bySlot.get(other)?.state !== 'ready',
    );
  const replaceFirst = (view: ReplicaView): void => {
    const reason: DrainReason = view.stuck === true ? 'stuck' : 'unhealthy';
    const spare = bySlot.get(count);
    if (spare === undefined) start(count);
    // Ready: it takes over, one failing replica at a time (count stay ready); with another
    // slot down meanwhile, count-1 is enough, or the failing one would wait for that slot.
    else if (spare.state === 'ready' && isCurrent(spare)) {
      drain(view.slot, reason, anotherSlotDown(view.slot) ? count - 1 : count);
    } else if (spare.state === 'failed' || spare.state === 'backing-off') {
      drain(view.slot, reason, count - 1);
    }
  };

  for (const view of views) {
    const { slot } = view;
    const surplus = isSurplus(view);
    const action = lifecycleAction(view, desired, now, surplus, slot >= count);
    if (action !== null) add(action);
    else if (view.state === 'ready') {
      if (afterCutOver && view.release !== desired.release) {
        add({ kind: 'drain', slot, reason: 'outdated' });
      } else if (slot < count && replacementDue(view, desired, now)) {
        replaceFirst(view);
      } else if (view.healthFailures >= desired.maxHealthFailures) {
        drain(slot, 'unhealthy', count - 1);
      } else if (surplus) drain(slot, 'surplus', count);
    }
  }

  for (let slot = 0; slot < count; slot += 1) {
    if (!bySlot.has(slot)) start(slot);
  }

  const settled = actions.length === 0 && views.every((view) => !UNSETTLED.has(view.state));
  const first = outdatedReady[0];
  if (!settled || first === undefined) return actions;

  let slotsReady = true;
  for (let slot = 0; slot < count; slot += 1) {
    if (bySlot.get(slot)?.state !== 'ready') slotsReady = false;
  }
  if (!desired.surge) {
    if (slotsReady) drain(first.slot, 'outdated', count - 1);
    return actions;
  }
  const spare = bySlot.get(count);
  if (spare === undefined) start(count);
  else if (spare.state === 'ready' && isCurrent(spare) && slotsReady) {
    drain(first.slot, 'outdated', count);
  }
  return actions;
}
