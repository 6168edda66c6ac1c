import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Action,
  type DesiredState,
  plan,
  type ReplicaView,
} from '../../../src/supervisor/plan.js';
import { REPLICA_STATES, transition } from '../../../src/supervisor/replica-state.js';

const DESIRED: DesiredState = {
  count: 2,
  release: 'r1',
  generation: 1,
  surge: false,
  drainTimeoutMs: 10_000,
  maxHealthFailures: 3,
};

function replica(slot: number, overrides: Partial<ReplicaView> = {}): ReplicaView {
  return {
    slot,
    state: 'ready',
    release: 'r1',
    generation: 1,
    healthFailures: 0,
    inFlight: 0,
    drainingSince: null,
    backoffUntil: null,
    restarts: 0,
    ...overrides,
  };
}

const readyCount = (views: readonly ReplicaView[]): number =>
  views.filter((view) => view.state === 'ready').length;

/**
 * A tiny stand-in for the supervisor: applies actions through the real transition table, then
 * one tick moves every replica a step along (health check passes, requests finish, processes exit).
 */
class Model {
  views: ReplicaView[];

  constructor(views: ReplicaView[]) {
    this.views = views;
  }

  private set(slot: number, update: (view: ReplicaView) => ReplicaView): void {
    this.views = this.views.map((view) => (view.slot === slot ? update(view) : view));
  }

  apply(action: Action, now: number): void {
    switch (action.kind) {
      case 'start': {
        const existing = this.views.find((view) => view.slot === action.slot);
        if (existing) transition(existing.state, 'starting');
        this.views = this.views.filter((view) => view.slot !== action.slot);
        this.views.push(
          replica(action.slot, {
            state: 'starting',
            release: action.release,
            generation: action.generation,
            restarts: existing?.restarts ?? 0,
          }),
        );
        break;
      }
      case 'drain':
        this.set(action.slot, (view) => ({
          ...view,
          state: transition(view.state, 'draining'),
          drainingSince: now,
          inFlight: 1,
        }));
        break;
      case 'stop':
        this.set(action.slot, (view) => ({
          ...view,
          state: transition(view.state, view.state === 'backing-off' ? 'stopped' : 'stopping'),
        }));
        break;
      case 'back-off':
        this.set(action.slot, (view) => ({
          ...view,
          state: transition(view.state, 'backing-off'),
          backoffUntil: now + 100 * 2 ** action.attempt,
          restarts: view.restarts + 1,
        }));
        break;
      case 'remove':
        this.views = this.views.filter((view) => view.slot !== action.slot);
        break;
      case 'toggle':
        this.serving = action.release;
        break;
    }
  }

  serving = 'r1';

  /** Ready replicas the balancer routes to: those on the serving release. */
  servingReady(): number {
    return this.views.filter((view) => view.state === 'ready' && view.release === this.serving)
      .length;
  }

  tick(): void {
    this.views = this.views.map((view) => {
      if (view.state === 'starting') return { ...view, state: transition(view.state, 'ready') };
      if (view.state === 'stopping') return { ...view, state: transition(view.state, 'stopped') };
      if (view.state === 'draining') return { ...view, inFlight: 0 };
      return view;
    });
  }
}

/** Runs plan/apply/tick until nothing is left to do, checking capacity after every change. */
function converge(desired: DesiredState, model: Model, minReady: number): number {
  let now = 0;
  for (let step = 0; step < 100; step += 1) {
    const actions = plan(desired, model.views, now);
    if (actions.length === 0) return step;
    for (const action of actions) {
      model.apply(action, now);
      expect(readyCount(model.views)).toBeGreaterThanOrEqual(minReady);
    }
    model.tick();
    expect(readyCount(model.views)).toBeGreaterThanOrEqual(minReady);
    now += 1_000;
  }
  throw new Error('did not converge in 100 steps');
}

describe('plan', () => {
  it('does nothing in the steady state', () => {
    expect(plan(DESIRED, [replica(0), replica(1)], 0)).toEqual([]);
  });

  it('backs off a failed replica with its restart count', () => {
    const actions = plan(DESIRED, [replica(0), replica(1, { state: 'failed', restarts: 4 })], 0);
    expect(actions).toEqual([{ kind: 'back-off', slot: 1, attempt: 4 }]);
  });

  it('restarts a backing-off replica once its back-off has elapsed, not before', () => {
    const view = replica(1, { state: 'backing-off', backoffUntil: 5_000, release: 'old' });
    expect(plan(DESIRED, [replica(0), view], 4_999)).toEqual([]);
    expect(plan(DESIRED, [replica(0), view], 5_000)).toEqual([
      { kind: 'start', slot: 1, release: 'r1', generation: 1 },
    ]);
  });

  it('starts a missing slot and a stopped one', () => {
    const desired = { ...DESIRED, count: 3 };
    expect(plan(desired, [replica(0), replica(2, { state: 'stopped' })], 0)).toEqual([
      { kind: 'start', slot: 2, release: 'r1', generation: 1 },
      { kind: 'start', slot: 1, release: 'r1', generation: 1 },
    ]);
  });

  it('removes a stopped spare or a slot beyond count', () => {
    const views = [replica(0), replica(1), replica(2, { state: 'stopped' })];
    expect(plan(DESIRED, views, 0)).toEqual([{ kind: 'remove', slot: 2 }]);
  });

  it('stops a drained replica gracefully, and forces it after the drain timeout', () => {
    const draining = replica(1, { state: 'draining', drainingSince: 1_000, inFlight: 2 });
    expect(plan(DESIRED, [replica(0), draining], 10_999)).toEqual([]);
    expect(plan(DESIRED, [replica(0), draining], 11_000)).toEqual([
      { kind: 'stop', slot: 1, force: true },
    ]);
    expect(plan(DESIRED, [replica(0), { ...draining, inFlight: 0 }], 1_001)).toEqual([
      { kind: 'stop', slot: 1, force: false },
    ]);
  });

  it('replaces an unhealthy replica replacement first: the spare starts, then it drains', () => {
    const unhealthy = replica(0, { healthFailures: 3 });
    const spare = { kind: 'start', slot: 2, release: 'r1', generation: 1 } as const;
    expect(plan(DESIRED, [unhealthy, replica(1)], 0)).toEqual([spare]);
    // While the spare starts, the failing replica keeps its place.
    expect(plan(DESIRED, [unhealthy, replica(1), replica(2, { state: 'starting' })], 0)).toEqual(
      [],
    );
    // The spare ready: it drains, leaving count ready.
    expect(plan(DESIRED, [unhealthy, replica(1), replica(2)], 0)).toEqual([
      { kind: 'drain', slot: 0, reason: 'unhealthy' },
    ]);
    // A spare that cannot come up does not keep it in rotation: count-1 stay ready.
    const failedSpare = replica(2, { state: 'backing-off', backoffUntil: 9 });
    expect(plan(DESIRED, [unhealthy, replica(1), failedSpare], 0)).toEqual([
      { kind: 'drain', slot: 0, reason: 'unhealthy' },
    ]);
    expect(plan(DESIRED, [unhealthy, replica(1, { state: 'starting' }), failedSpare], 0)).toEqual(
      [],
    );
    // Another slot down meanwhile: the failing one still goes once the spare is ready,
    // leaving count-1 rather than waiting for that slot.
    const down = replica(1, { state: 'backing-off', backoffUntil: 9 });
    expect(plan(DESIRED, [unhealthy, down, replica(2)], 0)).toContainEqual({
      kind: 'drain',
      slot: 0,
      reason: 'unhealthy',
    });
    // Two unhealthy out of three: only one goes at a time.
    const desired = { ...DESIRED, count: 3 };
    const views = [unhealthy, replica(1, { healthFailures: 5 }), replica(2), replica(3)];
    expect(plan(desired, views, 0)).toEqual([{ kind: 'drain', slot: 0, reason: 'unhealthy' }]);
  });

  it('replaces a stuck replica the same way, after its back-off when it was stuck again', () => {
    const stuck = replica(1, { stuck: true });
    expect(plan(DESIRED, [replica(0), stuck], 0)).toEqual([
      { kind: 'start', slot: 2, release: 'r1', generation: 1 },
    ]);
    expect(plan(DESIRED, [replica(0), stuck, replica(2)], 0)).toEqual([
      { kind: 'drain', slot: 1, reason: 'stuck' },
    ]);
    const waiting = replica(1, { stuck: true, replaceNotBefore: 5_000 });
    expect(plan(DESIRED, [replica(0), waiting], 4_999)).toEqual([]);
    expect(plan(DESIRED, [replica(0), waiting], 5_000)).toHaveLength(1);
  });

  it('brings a stuck replica through replacement to count ready on fresh incarnations', () => {
    const model = new Model([replica(0), replica(1, { stuck: true })]);
    converge(DESIRED, model, DESIRED.count);
    expect(model.views.map((view) => [view.slot, view.state, view.stuck ?? false])).toEqual([
      [0, 'ready', false],
      [1, 'ready', false],
    ]);
  });

  it('rolls a restart through without surge, never below count-1 ready', () => {
    const model = new Model([replica(0), replica(1)]);
    const desired = { ...DESIRED, generation: 2 };
    expect(plan(desired, model.views, 0)).toEqual([{ kind: 'drain', slot: 0, reason: 'outdated' }]);
    converge(desired, model, desired.count - 1);
    expect(model.views.map((view) => [view.slot, view.state, view.generation])).toEqual([
      [0, 'ready', 2],
      [1, 'ready', 2],
    ]);
  });

  it('rolls a new release through with surge, never below count ready', () => {
    const model = new Model([replica(0), replica(1), replica(2)]);
    const desired = { ...DESIRED, count: 3, release: 'r2', surge: true };
    expect(plan(desired, model.views, 0)).toEqual([
      { kind: 'start', slot: 3, release: 'r2', generation: 1 },
    ]);
    converge(desired, model, desired.count);
    const sorted = [...model.views].sort((a, b) => a.slot - b.slot);
    expect(sorted.map((view) => [view.slot, view.state, view.release])).toEqual([
      [0, 'ready', 'r2'],
      [1, 'ready', 'r2'],
      [2, 'ready', 'r2'],
    ]);
  });

  it('converges to a newer generation requested mid-rollout', () => {
    const model = new Model([replica(0), replica(1), replica(2)]);
    const first = { ...DESIRED, count: 3, generation: 2, surge: true };
    for (const action of plan(first, model.views, 0)) model.apply(action, 0);
    model.tick();
    const second = { ...first, generation: 3 };
    converge(second, model, second.count);
    expect(model.views.every((view) => view.generation === 3 && view.state === 'ready')).toBe(true);
    expect(model.views).toHaveLength(3);
  });
});

/** Like converge, with the balancer's serving release fed back in; records each cut-over. */
function convergeCutOver(
  desired: DesiredState,
  model: Model,
  minServing: number,
): { toggles: Array<{ step: number; readyOnNew: number }> } {
  const toggles: Array<{ step: number; readyOnNew: number }> = [];
  let now = 0;
  for (let step = 0; step < 200; step += 1) {
    const actions = plan(desired, model.views, now, model.serving);
    if (actions.length === 0) return { toggles };
    for (const action of actions) {
      if (action.kind === 'toggle') {
        toggles.push({
          step,
          readyOnNew: model.views.filter(
            (view) => view.state === 'ready' && view.release === action.release,
          ).length,
        });
      }
      model.apply(action, now);
      expect(model.servingReady()).toBeGreaterThanOrEqual(minServing);
    }
    model.tick();
    expect(model.servingReady()).toBeGreaterThanOrEqual(minServing);
    now += 1_000;
  }
  throw new Error('did not converge in 200 steps');
}

const onRelease = (model: Model) =>
  [...model.views]
    .sort((a, b) => a.slot - b.slot)
    .map((view) => [view.slot, view.state, view.release]);

describe('plan: release change as a toggle', () => {
  it('brings half up on the new release, toggles once, then replaces the rest (no surge)', () => {
    const model = new Model([replica(0), replica(1), replica(2), replica(3)]);
    const desired = { ...DESIRED, count: 4, release: 'r2' };
    expect(plan(desired, model.views, 0, 'r1')).toEqual([
      { kind: 'drain', slot: 0, reason: 'outdated' },
    ]);
    const { toggles } = convergeCutOver(desired, model, 2);
    expect(toggles).toEqual([{ step: expect.any(Number), readyOnNew: 2 }]);
    expect(model.serving).toBe('r2');
    expect(onRelease(model)).toEqual([
      [0, 'ready', 'r2'],
      [1, 'ready', 'r2'],
      [2, 'ready', 'r2'],
      [3, 'ready', 'r2'],
    ]);
  });

  it('with two replicas serves from one while the other comes up on the new release', () => {
    const model = new Model([replica(0), replica(1)]);
    const { toggles } = convergeCutOver({ ...DESIRED, release: 'r2' }, model, 1);
    expect(toggles.map((toggle) => toggle.readyOnNew)).toEqual([1]);
    expect(onRelease(model)).toEqual([
      [0, 'ready', 'r2'],
      [1, 'ready', 'r2'],
    ]);
  });

  it('drains every old replica at once after the toggle: they take no traffic any more', () => {
    const views = [replica(0, { release: 'r2' }), replica(1), replica(2)];
    const desired = { ...DESIRED, count: 3, release: 'r2' };
    expect(plan(desired, views, 0, 'r2')).toEqual([
      { kind: 'drain', slot: 1, reason: 'outdated' },
      { kind: 'drain', slot: 2, reason: 'outdated' },
    ]);
  });

  it('with surge starts a full new set beside the old one, so serving capacity never drops', () => {
    const model = new Model([replica(0), replica(1)]);
    const desired = { ...DESIRED, release: 'r2', surge: true };
    expect(plan(desired, model.views, 0, 'r1')).toEqual([
      { kind: 'start', slot: 2, release: 'r2', generation: 1 },
      { kind: 'start', slot: 3, release: 'r2', generation: 1 },
    ]);
    const { toggles } = convergeCutOver(desired, model, 2);
    expect(toggles.map((toggle) => toggle.readyOnNew)).toEqual([2]);
    expect(onRelease(model)).toEqual([
      [0, 'ready', 'r2'],
      [1, 'ready', 'r2'],
    ]);
  });

  it('goes back without a toggle when the deploy is abandoned before its cut-over', () => {
    const model = new Model([replica(0, { release: 'r2' }), replica(1)]);
    const { toggles } = convergeCutOver(DESIRED, model, 1);
    expect(toggles).toEqual([]);
    expect(model.serving).toBe('r1');
    expect(onRelease(model)).toEqual([
      [0, 'ready', 'r1'],
      [1, 'ready', 'r1'],
    ]);
  });

  it('coalesces: a newer target before the cut-over replaces the abandoned one first, one toggle', () => {
    const model = new Model([replica(0, { release: 'r2' }), replica(1)]);
    const desired = { ...DESIRED, release: 'r3' };
    expect(plan(desired, model.views, 0, 'r1')).toEqual([
      { kind: 'drain', slot: 0, reason: 'outdated' },
    ]);
    const { toggles } = convergeCutOver(desired, model, 1);
    expect(toggles.map((toggle) => toggle.readyOnNew)).toEqual([1]);
    expect(model.serving).toBe('r3');
    expect(model.views.every((view) => view.release === 'r3')).toBe(true);
  });
});

describe('plan: cut-over edge cases', () => {
  it('does not drain serving replicas below count - newSide when the count shrinks mid-switch', () => {
    // count was 4: slot 0 starts on r2, slot 1 backs off, slots 2-3 serve r1; a reload sets
    // count 2, so slots 2 and 3 are surplus.
    const views = [
      replica(0, { state: 'starting', release: 'r2' }),
      replica(1, { state: 'backing-off', backoffUntil: 10_000 }),
      replica(2),
      replica(3),
    ];
    const desired = { ...DESIRED, count: 2, release: 'r2' };
    const drains = plan(desired, views, 0, 'r1').filter((action) => action.kind === 'drain');
    // count - newSide = 1 must keep serving: only one of the two surplus slots goes now.
    expect(drains).toHaveLength(1);
  });

  it('replaces an unhealthy replica during a switch when enough others serve', () => {
    const views = [
      replica(0, { state: 'starting', release: 'r2' }),
      replica(1, { healthFailures: 3 }),
      replica(2),
      replica(3),
    ];
    const desired = { ...DESIRED, count: 4, release: 'r2' };
    expect(plan(desired, views, 0, 'r1')).toEqual([
      { kind: 'drain', slot: 1, reason: 'unhealthy' },
    ]);
    // With only count - newSide serving, it must wait.
    const tight = [
      views[0],
      views[1],
      views[2],
      replica(3, { state: 'backing-off', backoffUntil: 9 }),
    ];
    expect(plan(desired, tight as ReplicaView[], 0, 'r1')).toEqual([]);
  });

  it('with surge replaces a restart spare on the old release instead of waiting forever', () => {
    const views = [replica(0), replica(1), replica(2)];
    const desired = { ...DESIRED, release: 'r2', surge: true };
    const model = new Model(views);
    expect(plan(desired, views, 0, 'r1')).toContainEqual({
      kind: 'start',
      slot: 3,
      release: 'r2',
      generation: 1,
    });
    const { toggles } = convergeCutOver(desired, model, 2);
    expect(toggles).toHaveLength(1);
    expect(model.views.every((view) => view.release === 'r2')).toBe(true);
  });
});

describe('plan properties', () => {
  const desiredArb = fc.record({
    count: fc.integer({ min: 2, max: 5 }),
    release: fc.constantFrom('r1', 'r2'),
    generation: fc.integer({ min: 1, max: 2 }),
    surge: fc.boolean(),
    drainTimeoutMs: fc.integer({ min: 0, max: 2_000 }),
    maxHealthFailures: fc.integer({ min: 1, max: 3 }),
  });
  const viewArb = (slot: number): fc.Arbitrary<ReplicaView> =>
    fc.record({
      slot: fc.constant(slot),
      state: fc.constantFrom(...REPLICA_STATES),
      release: fc.constantFrom('r1', 'r2'),
      generation: fc.integer({ min: 1, max: 2 }),
      healthFailures: fc.integer({ min: 0, max: 4 }),
      inFlight: fc.integer({ min: 0, max: 3 }),
      drainingSince: fc.option(fc.integer({ min: 0, max: 2_000 })),
      backoffUntil: fc.option(fc.integer({ min: 0, max: 2_000 })),
      restarts: fc.integer({ min: 0, max: 10 }),
      stuck: fc.boolean(),
      replaceNotBefore: fc.option(fc.integer({ min: 0, max: 2_000 })),
    });
  // Any subset of slots 0..6, so missing slots, the spare and leftovers beyond count all occur.
  const observedArb: fc.Arbitrary<ReplicaView[]> = fc
    .subarray([0, 1, 2, 3, 4, 5, 6])
    .chain((slots) => fc.tuple(...slots.map(viewArb)));

  it('keeps one action per slot, starts only free slots, and keeps count-1 ready', () => {
    fc.assert(
      fc.property(desiredArb, observedArb, fc.integer({ min: 0, max: 2_000 }), (d, obs, now) => {
        const actions = plan(d, obs, now);
        const slots = actions.map((action) => action.slot);
        expect(new Set(slots).size).toBe(slots.length);

        for (const action of actions) {
          if (action.kind !== 'start') continue;
          const view = obs.find((candidate) => candidate.slot === action.slot);
          expect(view === undefined || ['stopped', 'backing-off'].includes(view.state)).toBe(true);
        }

        const drained = new Set(
          actions.filter((action) => action.kind === 'drain').map((action) => action.slot),
        );
        if (drained.size > 0) {
          const readyAfter = obs.filter(
            (view) => view.state === 'ready' && !drained.has(view.slot),
          ).length;
          expect(readyAfter).toBeGreaterThanOrEqual(d.count - 1);
        }
      }),
      { numRuns: 2_000 },
    );
  });

  it('is deterministic', () => {
    fc.assert(
      fc.property(desiredArb, observedArb, fc.nat(2_000), (d, obs, now) => {
        expect(plan(d, obs, now)).toEqual(plan(d, [...obs].reverse(), now));
      }),
    );
  });
});
