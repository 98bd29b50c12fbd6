import fc from 'fast-check';
import { SseSlots } from './sse-slots';

describe('SseSlots', () => {
  it('gives at most max slots and frees one per release, however often released', () => {
    const s = new SseSlots(2);
    const a = s.acquire()!;
    const b = s.acquire()!;
    expect(s.acquire()).toBeUndefined();
    a();
    a();
    expect(s.inUse).toBe(1);
    expect(s.acquire()).toBeDefined();
    expect(s.acquire()).toBeUndefined();
    b();
    expect(s.inUse).toBe(1);
  });

  it('property: slots in use never exceed max nor go below zero', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10 }), fc.array(fc.oneof(fc.constant('acquire' as const), fc.nat(20)), { maxLength: 100 }), (max, ops) => {
        const s = new SseSlots(max);
        const held: (() => void)[] = [];
        for (const op of ops) {
          if (op === 'acquire') {
            const r = s.acquire();
            if (r) held.push(r);
            else expect(s.inUse).toBe(max);
          } else if (held.length) held[op % held.length]();
          expect(s.inUse).toBeGreaterThanOrEqual(0);
          expect(s.inUse).toBeLessThanOrEqual(max);
        }
      }),
    );
  });
});
