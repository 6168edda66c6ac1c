import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  measureAndDecide,
  type SurgeChoice,
  SurgeChooser,
  type SurgeRequest,
} from '../../../src/supervisor/surge-chooser.js';
import type { SurgeDecision } from '../../../src/supervisor/surge-decision.js';
import { makeTempDir } from '../../support/temp-dir.js';

const MiB = 1024 ** 2;

const request = (overrides: Partial<SurgeRequest> = {}): SurgeRequest => ({
  change: 'switch',
  setting: 'auto',
  marginBytes: 0,
  extraReplicas: 2,
  replicas: [[100], [200]],
  ...overrides,
});

/** Measurements the test answers by hand, to see what happens while one is under way. */
function heldMeasurements() {
  const waiting: Array<{ request: SurgeRequest; answer: (decision: SurgeDecision) => void }> = [];
  const measure = (asked: SurgeRequest) =>
    new Promise<SurgeDecision>((answer) => waiting.push({ request: asked, answer }));
  return { waiting, chooser: new SurgeChooser(measure) };
}

const settled = () => new Promise((resolve) => setImmediate(resolve));

describe('SurgeChooser', () => {
  it('decides true and false at once, naming the setting', () => {
    const chooser = new SurgeChooser();
    const chosen: SurgeChoice[] = [];
    chooser.choose(request({ setting: false }), false, (choice) => chosen.push(choice));
    expect(chooser.pending).toBe(false);
    expect(chosen[0]).toMatchObject({
      surge: false,
      change: 'switch',
      message: 'surge: no (replicas.surge = false): half the replicas switch at a time',
    });
    expect(chooser.last).toBe(chosen[0]);
  });

  it('holds "auto" pending until measured, then tells the decision once', async () => {
    const { waiting, chooser } = heldMeasurements();
    const chosen: SurgeChoice[] = [];
    chooser.choose(request(), false, (choice) => chosen.push(choice));
    expect(chooser.pending).toBe(true);
    expect(chosen).toEqual([]);
    waiting[0]?.answer({
      surge: true,
      reason: 'needs 20 MiB for 2 more replicas, 9.8 GiB available',
    });
    await settled();
    expect(chooser.pending).toBe(false);
    expect(chosen.map((choice) => choice.message)).toEqual([
      'surge: yes (needs 20 MiB for 2 more replicas, 9.8 GiB available)',
    ]);
  });

  it('keeps the decision for a change under way: a newer target is the same switch', async () => {
    const { waiting, chooser } = heldMeasurements();
    const chosen: SurgeChoice[] = [];
    chooser.choose(request(), false, (choice) => chosen.push(choice));
    waiting[0]?.answer({ surge: true, reason: 'r' });
    await settled();
    chooser.choose(request(), true, (choice) => chosen.push(choice));
    chooser.choose(request({ change: 'restart' }), true, (choice) => chosen.push(choice));
    expect(waiting).toHaveLength(1);
    expect(chooser.pending).toBe(false);
    expect(chosen).toHaveLength(1);
  });

  it('decides again for a switch during a restart (it adds a whole set), dropping the older answer', async () => {
    const { waiting, chooser } = heldMeasurements();
    const chosen: SurgeChoice[] = [];
    chooser.choose(request({ change: 'restart', extraReplicas: 1 }), false, (c) => chosen.push(c));
    chooser.choose(request(), true, (c) => chosen.push(c));
    expect(waiting.map((entry) => entry.request.change)).toEqual(['restart', 'switch']);
    waiting[0]?.answer({ surge: true, reason: 'stale' });
    await settled();
    expect(chooser.pending).toBe(true);
    waiting[1]?.answer({ surge: false, reason: 'fresh' });
    await settled();
    expect(chosen.map((choice) => choice.reason)).toEqual(['fresh']);
    expect(chooser.pending).toBe(false);
  });

  it('decides again for a change that starts after the last one finished', async () => {
    const { waiting, chooser } = heldMeasurements();
    chooser.choose(request(), false, () => {});
    waiting[0]?.answer({ surge: true, reason: 'first' });
    await settled();
    chooser.choose(request(), false, () => {});
    expect(waiting).toHaveLength(2);
  });

  it('drops a measurement still under way when cancelled', async () => {
    const { waiting, chooser } = heldMeasurements();
    const chosen: SurgeChoice[] = [];
    chooser.choose(request(), false, (choice) => chosen.push(choice));
    chooser.cancel();
    expect(chooser.pending).toBe(false);
    waiting[0]?.answer({ surge: true, reason: 'late' });
    await settled();
    expect(chosen).toEqual([]);
  });

  it('does not surge when the measurement fails', async () => {
    const chooser = new SurgeChooser(() => Promise.reject(new Error('EACCES: /proc')));
    const chosen: SurgeChoice[] = [];
    chooser.choose(request(), false, (choice) => chosen.push(choice));
    await settled();
    expect(chosen[0]).toMatchObject({
      surge: false,
      reason: 'could not measure memory: EACCES: /proc',
    });
  });
});

describe('measureAndDecide over a /proc tree', () => {
  const temp = makeTempDir('surgeproc');
  afterAll(() => temp.remove());
  const proc = join(temp.path, 'proc');
  for (const [pid, kib] of [
    [100, 150 * 1024],
    [200, 50 * 1024],
  ] as const) {
    mkdirSync(join(proc, String(pid)), { recursive: true });
    writeFileSync(join(proc, String(pid), 'stat'), `${pid} (php-fpm) S 1 ${pid} ${pid} 0\n`);
    writeFileSync(join(proc, String(pid), 'smaps_rollup'), `Pss: ${kib} kB\n`);
  }
  mkdirSync(join(proc, 'self'), { recursive: true });
  writeFileSync(join(proc, 'meminfo'), `MemAvailable: ${1024 * 1024} kB\n`);

  it('measures the replicas and the memory, then decides', async () => {
    expect(await measureAndDecide(request({ marginBytes: 256 * MiB }), { proc })).toEqual({
      surge: true,
      reason: 'needs 200 MiB for 2 more replicas and a 256 MiB margin, 1.0 GiB available',
    });
    expect((await measureAndDecide(request({ marginBytes: 900 * MiB }), { proc })).surge).toBe(
      false,
    );
  });

  it('says why when it cannot measure', async () => {
    const decision = await measureAndDecide(request(), { proc: join(temp.path, 'none') });
    expect(decision.surge).toBe(false);
    expect(decision.reason).toMatch(/^could not measure memory: ENOENT/);
  });
});
