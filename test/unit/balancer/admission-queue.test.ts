import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AdmissionQueue } from '../../../src/balancer/admission-queue.js';

describe('admission queue', () => {
  it('is FIFO and refuses pushes past its capacity', () => {
    const queue = new AdmissionQueue<number>(2);
    expect(queue.push(1)).toBe(true);
    expect(queue.push(2)).toBe(true);
    expect(queue.push(3)).toBe(false);
    expect(queue.shift()).toBe(1);
    expect(queue.push(3)).toBe(true);
    expect([queue.shift(), queue.shift(), queue.shift()]).toEqual([2, 3, undefined]);
  });

  it('puts a retry at the head even when full', () => {
    const queue = new AdmissionQueue<string>(1);
    queue.push('waiting');
    queue.unshift('retry');
    expect(queue.length).toBe(2);
    expect(queue.shift()).toBe('retry');
  });

  it('behaves like an array model under any sequence of operations', () => {
    const op = fc.oneof(
      fc.record({ kind: fc.constant('push' as const), value: fc.nat() }),
      fc.record({ kind: fc.constant('unshift' as const), value: fc.nat() }),
      fc.record({ kind: fc.constant('shift' as const) }),
      fc.record({ kind: fc.constant('remove' as const), value: fc.nat() }),
      fc.record({ kind: fc.constant('removeAt' as const), value: fc.nat({ max: 6 }) }),
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 5 }),
        fc.array(op, { maxLength: 3000 }),
        (capacity, ops) => {
          const queue = new AdmissionQueue<number>(capacity);
          const model: number[] = [];
          for (const o of ops) {
            if (o.kind === 'push') {
              const accepted = model.length < capacity;
              expect(queue.push(o.value)).toBe(accepted);
              if (accepted) model.push(o.value);
            } else if (o.kind === 'unshift') {
              queue.unshift(o.value);
              model.unshift(o.value);
            } else if (o.kind === 'shift') {
              expect(queue.shift()).toBe(model.shift());
            } else {
              const at = model.indexOf(o.value);
              expect(queue.remove(o.value)).toBe(at >= 0);
              if (at >= 0) model.splice(at, 1);
            }
            expect(queue.length).toBe(model.length);
          }
        },
      ),
    );
  });
});
