import fc from 'fast-check';
import { arbEntry } from '../testing/arbitraries';
import { AvailabilityState, LEAVES, storeEntry } from './availability-state';
import { answerWants, chunkExchange, decodeFingerprints, differingLeaves, encodeFingerprints, planExchange } from './sync-plan';
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

describe('chunked exchange', () => {
  it('splits round 2 by whole leaves into bounded requests that together carry the whole plan', () => {
    let split = 0;
    fc.assert(
      fc.property(
        fc.array(fc.record({ leaf: fc.integer({ min: 0, max: 20 }), n: fc.integer({ min: 0, max: 9 }) }), { maxLength: 40 }),
        fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 60 }),
        fc.integer({ min: 1, max: 12 }),
        (sends, wantLeaves, max) => {
          const leaves = [...new Set([...sends.map((s) => s.leaf), ...wantLeaves])].sort((a, b) => a - b);
          const send = sends.map((s, i) => ({ leaf: s.leaf, i }) as unknown as Entry);
          const want = wantLeaves.map((l, i) => `${l.toString(16).padStart(4, '0')}${i.toString(16).padStart(4, '0')}`);
          const chunks = chunkExchange(leaves, { send, want }, (e) => (e as unknown as { leaf: number }).leaf, (k) => parseInt(k.slice(0, 4), 16), max);
          if (chunks.length > 1) split++;
          expect(chunks.flatMap((c) => c.leaves)).toEqual(leaves);
          expect(chunks.flatMap((c) => c.send).length).toBe(send.length);
          expect(new Set(chunks.flatMap((c) => c.send))).toEqual(new Set(send));
          expect(chunks.flatMap((c) => c.want).sort()).toEqual([...want].sort());
          for (const c of chunks) {
            // every item travels with its leaf
            for (const e of c.send) expect(c.leaves).toContain((e as unknown as { leaf: number }).leaf);
            for (const k of c.want) expect(c.leaves).toContain(parseInt(k.slice(0, 4), 16));
            // bounded, except a single leaf heavier than the bound on its own
            if (c.leaves.length > 1) expect(c.send.length + c.want.length).toBeLessThanOrEqual(max);
          }
        },
      ),
      { numRuns: 300 },
    );
    expect(split).toBeGreaterThan(60);
  });

  it('a chunked handshake leaves both sides with the union, as one large exchange does', () => {
    const a = stateOf(Array.from({ length: 300 }, (_, i) => ({ targetType: 'application', target: `a${i}`, kind: '*', available: false, reason: 'outage', source: 'operator', timestamp: new Date(Date.UTC(2026, 0, 1) + i).toISOString(), id: `a${i}`, priority: 0 }) as Entry));
    const b = stateOf(Array.from({ length: 200 }, (_, i) => ({ targetType: 'resource', target: `b${i}`, kind: '*', available: true, source: 'monitor', timestamp: new Date(Date.UTC(2026, 0, 1) + i).toISOString(), id: `b${i}`, priority: 0 }) as Entry));
    const leaves = differingLeaves(a.leafDigests(), b.leafDigests());
    const plan = planExchange(a.inLeaves(leaves), decodeFingerprints(encodeFingerprints(b.inLeaves(leaves))));
    const chunks = chunkExchange(leaves, plan, (e) => storeEntry(e).leaf, (k) => parseInt(k, 16) & (LEAVES - 1), 50);
    expect(chunks.length).toBeGreaterThan(5);
    for (const c of chunks) {
      for (const e of c.send) b.apply(e);
      for (const e of answerWants(b.inLeaves(c.leaves), c.want, c.send)) a.apply(e);
    }
    expect(a.digest()).toBe(b.digest());
    expect(a.count).toBe(500);
  });
});
