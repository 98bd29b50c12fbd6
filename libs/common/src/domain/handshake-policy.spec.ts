import fc from 'fast-check';
import { choosePeers, followUpPeers } from './handshake-policy';

describe('choosePeers', () => {
  it('uses the configured list without this node', () => {
    expect(choosePeers('n1', ['n1', 'n2', 'n3', 'n2'], ['n9'], 1)).toEqual(['n2', 'n3']);
  });

  it('picks up to count distinct live nodes other than this one', () => {
    const seen = { samples: 0, picked: 0, all: 0 };
    fc.assert(
      fc.property(fc.uniqueArray(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { size: 'medium' }), fc.integer({ min: 0, max: 6 }), (live, count) => {
        const others = live.filter((p) => p !== 'a').length;
        seen.samples++;
        if (count > 0 && count < others) seen.picked++;
        else if (others > 0 && count >= others) seen.all++;
        const peers = choosePeers('a', [], live, count);
        expect(peers).not.toContain('a');
        expect(new Set(peers).size).toBe(peers.length);
        expect(peers.length).toBe(Math.min(count, live.filter((p) => p !== 'a').length));
        for (const p of peers) expect(live).toContain(p);
      }),
      { numRuns: 300 },
    );
    // Both a real choice among more live nodes than wanted, and taking every live node, run often.
    expect(seen.picked / seen.samples).toBeGreaterThanOrEqual(0.2);
    expect(seen.all / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('starts alone when nobody else is up', () => {
    expect(choosePeers('a', [], ['a'], 3)).toEqual([]);
  });
});

describe('followUpPeers', () => {
  it('serial: an earlier peer gets a follow-up when a later one brought news', () => {
    expect(
      followUpPeers([
        { type: 'sent', peer: 'p1' }, { type: 'learned', peer: 'p1', count: 2 },
        { type: 'sent', peer: 'p2' }, { type: 'learned', peer: 'p2', count: 0 },
        { type: 'sent', peer: 'p3' }, { type: 'learned', peer: 'p3', count: 1 },
      ]),
    ).toEqual(['p1', 'p2']);
  });

  it('parallel: every peer but the one with the news gets a follow-up', () => {
    expect(
      followUpPeers([
        { type: 'sent', peer: 'p1' }, { type: 'sent', peer: 'p2' }, { type: 'sent', peer: 'p3' },
        { type: 'learned', peer: 'p2', count: 0 }, { type: 'learned', peer: 'p1', count: 4 }, { type: 'learned', peer: 'p3', count: 0 },
      ]),
    ).toEqual(['p2', 'p3']);
  });

  it('nobody needs one when nothing new was learned', () => {
    expect(followUpPeers([{ type: 'sent', peer: 'p1' }, { type: 'learned', peer: 'p1', count: 0 }, { type: 'sent', peer: 'p2' }])).toEqual([]);
  });
});
