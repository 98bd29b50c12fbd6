/** Pure decisions of the handshake: whom to ask, and who needs a follow-up. */

/**
 * Reference peers: the configured list when there is one, else up to `count` live nodes at
 * random; never this node. An empty answer means this node starts alone.
 */
export function choosePeers(self: string, configured: string[], live: string[], count: number, random: () => number = Math.random): string[] {
  if (configured.length > 0) return [...new Set(configured.filter((p) => p !== self))];
  const pool = [...new Set(live.filter((p) => p !== self))];
  for (let i = pool.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count);
}

/** One step of a handshake round as the initiator saw it, in the order things happened. */
export type HandshakeEvent = { type: 'sent'; peer: string } | { type: 'learned'; peer: string; count: number };

/**
 * Peers that answered before news was found elsewhere: a peer needs a follow-up when, after this
 * node last sent it its state, it learned something new from another peer.
 */
export function followUpPeers(events: HandshakeEvent[]): string[] {
  const lastSent = new Map<string, number>();
  events.forEach((e, i) => e.type === 'sent' && lastSent.set(e.peer, i));
  const out: string[] = [];
  for (const [peer, at] of lastSent) {
    const news = events.some((e, i) => i > at && e.type === 'learned' && e.peer !== peer && e.count > 0);
    if (news) out.push(peer);
  }
  return out.sort();
}
