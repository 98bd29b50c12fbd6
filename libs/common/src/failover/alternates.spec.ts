import fc from 'fast-check';
import type { RingTable } from '../domain/ring';
import { PublishedLoad, chooseAlternates, clientAlternates, parsePublishedLoads, routableServers } from './alternates';
import type { Zone } from './zones';

const row = { address: '', buddyA: null, buddyB: null };
const table: RingTable = { a: row, b: row, c: row, d: row, e: row };
const report = (id: string, score: number, zone: Zone, at = 1000): PublishedLoad => ({ id, address: `http://${id}`, score, zone, at });

describe('chooseAlternates', () => {
  const reports = [report('a', 10, 'accept'), report('b', 30, 'accept'), report('c', 20, 'accept'), report('d', 50, 'hold'), report('e', 90, 'defer'), report('z', 5, 'accept'), report('f', 20, 'accept')];

  it('offers servers in accept and in the ring table, never the sender, lowest score first', () => {
    expect(chooseAlternates(reports, table, 'a').map((s) => s.id)).toEqual(['c', 'b']);
    expect(chooseAlternates(reports, table, 'b')).toEqual([{ id: 'a', address: 'http://a', score: 10 }, { id: 'c', address: 'http://c', score: 20 }]);
  });

  it('breaks a tie of scores by id and stops at the limit', () => {
    const tied = [report('c', 20, 'accept'), report('b', 20, 'accept'), report('d', 20, 'accept')];
    expect(chooseAlternates(tied, table, 'a').map((s) => s.id)).toEqual(['b', 'c', 'd']);
    expect(chooseAlternates(tied, table, 'a', { limit: 2 }).map((s) => s.id)).toEqual(['b', 'c']);
  });

  it('judges a server by its latest report, and leaves out reports older than the age limit', () => {
    const history = [report('b', 10, 'accept', 1000), report('b', 95, 'defer', 2000), report('c', 15, 'accept', 500), report('d', 40, 'accept', 1900)];
    expect(chooseAlternates(history, table, 'a').map((s) => s.id)).toEqual(['c', 'd']);
    expect(chooseAlternates(history, table, 'a', { maxAgeMs: 1000, now: 2000 }).map((s) => s.id)).toEqual(['d']);
  });
});

describe('clientAlternates', () => {
  const own = [{ id: 'x', address: 'http://x' }, { id: 'a', address: 'http://a' }];

  it('uses the message’s list when it has one, without the server being left or repeats', () => {
    const offered = [{ id: 'b', address: 'http://b' }, { id: 'a', address: 'http://a' }, { id: 'b', address: 'http://b2' }];
    expect(clientAlternates(offered, own, 'a')).toEqual([{ id: 'b', address: 'http://b' }]);
  });

  it('falls back on its own configured list when the message offers none, or only the server being left', () => {
    expect(clientAlternates([], own, 'a')).toEqual([{ id: 'x', address: 'http://x' }]);
    expect(clientAlternates([{ id: 'a', address: 'http://a' }], own, 'a')).toEqual([{ id: 'x', address: 'http://x' }]);
    expect(clientAlternates([], [], 'a')).toEqual([]);
  });
});

const ids = ['n0', 'n1', 'n2', 'n3', 'n4', 'n5'];
const reportArb = fc.record({
  id: fc.constantFrom(...ids),
  score: fc.integer({ min: 0, max: 100 }),
  zone: fc.constantFrom<Zone>('accept', 'accept', 'hold', 'brief', 'defer'),
  at: fc.integer({ min: 0, max: 100 }),
}).map((r) => ({ ...r, address: `http://${r.id}` }));

describe('alternates properties', () => {
  it('property: never the sender, a server missing from the table or one outside accept; every other latest-in-accept server, best first', () => {
    const seen = { samples: 0, senderReported: 0, deadReported: 0, troubledReported: 0, offered: 0 };
    fc.assert(
      fc.property(fc.array(reportArb, { maxLength: 12 }), fc.subarray(ids), fc.constantFrom(...ids), (reports, live, sender) => {
        const t: RingTable = Object.fromEntries(live.map((id) => [id, row]));
        const out = chooseAlternates(reports, t, sender);
        const latest = new Map<string, PublishedLoad>();
        for (const r of reports) if (!latest.has(r.id) || r.at > (latest.get(r.id) as PublishedLoad).at) latest.set(r.id, r);
        const eligible = [...latest.values()].filter((r) => r.id !== sender && live.includes(r.id) && r.zone === 'accept');
        seen.samples++;
        if (latest.has(sender)) seen.senderReported++;
        if ([...latest.keys()].some((id) => !live.includes(id))) seen.deadReported++;
        if ([...latest.values()].some((r) => r.zone !== 'accept')) seen.troubledReported++;
        if (out.length > 0) seen.offered++;
        for (const s of out) {
          expect(s.id).not.toBe(sender);
          expect(live).toContain(s.id);
          expect(latest.get(s.id)?.zone).toBe('accept');
        }
        expect(out.map((s) => s.id).sort()).toEqual(eligible.map((r) => r.id).sort());
        out.forEach((s, i) => i === 0 || expect(out[i - 1].score < s.score || (out[i - 1].score === s.score && out[i - 1].id < s.id)).toBe(true));
      }),
      { numRuns: 500 },
    );
    for (const k of ['senderReported', 'deadReported', 'troubledReported', 'offered'] as const) expect(seen[k] / seen.samples).toBeGreaterThanOrEqual(0.2);
  });
});

describe('routable servers (where a starting client goes)', () => {
  const table = { a: { address: 'http://a:3100', buddyA: 'b', buddyB: 'b' }, b: { address: 'http://b:3100', buddyA: 'a', buddyB: 'a' } };
  const report = (id: string, zone: 'accept' | 'hold' | 'defer', score: number, at = 1000) => ({ id, address: `published-${id}`, zone, score, at });

  it('gives live servers in accept, best first, with the table\'s addresses, never a dead or a stale one', () => {
    const reports = [report('a', 'accept', 40), report('b', 'accept', 10), report('dead', 'accept', 0), report('c', 'accept', 5, 1)];
    expect(routableServers(reports, table, { now: 2000, maxAgeMs: 5000 })).toEqual([
      { id: 'b', address: 'http://b:3100', score: 10 },
      { id: 'a', address: 'http://a:3100', score: 40 },
    ]);
    expect(routableServers([report('a', 'accept', 40), report('b', 'hold', 10)], table, { exclude: 'a' })).toEqual([]);
    expect(routableServers([report('a', 'accept', 40, 1)], table, { now: 20_000, maxAgeMs: 10_000 })).toEqual([]);
  });

  it('reads the reports of the load hash, skipping what is not one', () => {
    const ok = report('a', 'accept', 1);
    expect(parsePublishedLoads([JSON.stringify(ok), '{', JSON.stringify({ id: 'x' }), 'null'])).toEqual([ok]);
  });
});
