import fc from 'fast-check';
import { arbEntry } from '../testing/arbitraries';
import { AvailabilityState } from './availability-state';
import { answerWants, decodeFingerprints, differingLeaves, encodeFingerprints, planExchange } from './sync-plan';
import { Entry } from './notification';

function stateOf(entries: Entry[]): AvailabilityState {
  const s = new AvailabilityState();
  for (const e of entries) s.apply(e);
  return s;
}

/** The two rounds of the handshake, run in memory. */
function handshake(a: AvailabilityState, b: AvailabilityState): { sent: number; received: number } {
  const leaves = differingLeaves(a.leafDigests(), b.leafDigests());
  if (leaves.length === 0) return { sent: 0, received: 0 };
  const theirFps = decodeFingerprints(encodeFingerprints(b.inLeaves(leaves)));
  const plan = planExchange(a.inLeaves(leaves), theirFps);
  for (const e of plan.send) b.apply(e);
  const answer = answerWants(b.inLeaves(leaves), plan.want, plan.send);
  for (const e of answer) a.apply(e);
  return { sent: plan.send.length, received: answer.length };
}

describe('handshake plan', () => {
  it('leaves both sides with the union of their entries', () => {
    const seen = { samples: 0, bothWays: 0 };
    fc.assert(
      fc.property(fc.array(arbEntry, { maxLength: 30 }), fc.array(arbEntry, { maxLength: 30 }), (x, y) => {
        seen.samples++;
        const a = stateOf(x);
        const b = stateOf(y);
        const union = stateOf([...x, ...y]);
        const { sent, received } = handshake(a, b);
        if (sent > 0 && received > 0) seen.bothWays++;
        expect(a.digest()).toBe(union.digest());
        expect(b.digest()).toBe(union.digest());
      }),
    );
    // Entries must travel both ways in a fair share of samples, or the union is barely tested.
    expect(seen.bothWays / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('exchanges nothing between equal states and only the difference otherwise', () => {
    const base: Entry[] = Array.from({ length: 2000 }, (_, i) => ({ targetType: 'application', target: `app${i}`, kind: '*', available: false, reason: 'outage', source: 'operator', timestamp: '2026-01-01T00:00:00.000Z', id: `id${i}`, priority: 0 }));
    const a = stateOf(base);
    const b = stateOf(base);
    expect(handshake(a, b)).toEqual({ sent: 0, received: 0 });
    const extraA: Entry = { ...base[0], target: 'only-a', id: 'xa' };
    const newerB: Entry = { ...base[5], available: true, timestamp: '2026-01-02T00:00:00.000Z' };
    delete newerB.reason;
    a.apply(extraA);
    b.apply(newerB);
    expect(handshake(a, b)).toEqual({ sent: 2, received: 1 });
    expect(a.digest()).toBe(b.digest());
    expect(a.get('application|app5|*')?.entry.available).toBe(true);
    expect(b.get('application|only-a|*')).toBeDefined();
  });
});
