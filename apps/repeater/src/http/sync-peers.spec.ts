import fc from 'fast-check';
import { MAX_SYNC_PEERS, PEER_ID_PATTERN, parsePeers } from './sync-peers';

describe('parsePeers', () => {
  it('reads a comma-separated list of node ids, trimmed and without repeats', () => {
    expect(parsePeers('node-1, node_2,,node-1')).toEqual({ peers: ['node-1', 'node_2'] });
    expect(parsePeers(undefined)).toEqual({});
    expect(parsePeers(' , ')).toEqual({});
  });

  it(`refuses more than ${MAX_SYNC_PEERS} peers`, () => {
    const many = Array.from({ length: MAX_SYNC_PEERS + 1 }, (_, i) => `p${i}`).join(',');
    expect(parsePeers(many).errors).toEqual([{ field: 'peers', message: `at most ${MAX_SYNC_PEERS} peers per sync, got ${MAX_SYNC_PEERS + 1}` }]);
    expect(parsePeers(Array.from({ length: MAX_SYNC_PEERS }, (_, i) => `p${i}`).join(',')).peers).toHaveLength(MAX_SYNC_PEERS);
  });

  it('refuses ids that are not node ids, showing them escaped', () => {
    const r = parsePeers('ok,evil\n2026-11-27 INFO forged,a.b');
    expect(r.errors).toEqual([
      { field: 'peers', message: '"evil\\n2026-11-27 INFO forged" is not a node id (1-64 of [A-Za-z0-9_-])' },
      { field: 'peers', message: '"a.b" is not a node id (1-64 of [A-Za-z0-9_-])' },
    ]);
    expect(parsePeers('x'.repeat(65)).errors).toHaveLength(1);
    expect(parsePeers(['a', 'b']).errors).toHaveLength(1);
  });

  it('property: whatever is accepted is at most the cap, and every id matches the NODE_ID pattern', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 400 }), (raw) => {
        const r = parsePeers(raw);
        if (!r.peers) return;
        expect(r.peers.length).toBeLessThanOrEqual(MAX_SYNC_PEERS);
        for (const p of r.peers) expect(p).toMatch(PEER_ID_PATTERN);
      }),
    );
  });
});
