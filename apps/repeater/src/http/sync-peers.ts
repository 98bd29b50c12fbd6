/** The NODE_ID pattern (see the repeater's environment): what a peer id must look like. */
export const PEER_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;

/** Peers one `POST /v1/sync?peers=` may name. */
export const MAX_SYNC_PEERS = 16;

const SHOWN_CHARS = 40;

/** A peer id as shown in an error: JSON-escaped and cut, so the answer stays small. */
function shown(id: string): string {
  return JSON.stringify(id.length > SHOWN_CHARS ? `${id.slice(0, SHOWN_CHARS)}…` : id);
}

/**
 * Reads `?peers=a,b,c` (pure), before any id reaches a queue name or a log line: undefined
 * (none given: the configured peers), the distinct ids, or field errors naming what is wrong
 * (too many peers, an id that is not a NODE_ID).
 */
export function parsePeers(raw: unknown): { peers?: string[]; errors?: undefined } | { peers?: undefined; errors: { field: string; message: string }[] } {
  if (raw === undefined) return {};
  if (typeof raw !== 'string') return { errors: [{ field: 'peers', message: 'peers must be given once, as a comma-separated list of node ids' }] };
  const ids = [...new Set(raw.split(',').map((p) => p.trim()).filter(Boolean))];
  if (ids.length > MAX_SYNC_PEERS) return { errors: [{ field: 'peers', message: `at most ${MAX_SYNC_PEERS} peers per sync, got ${ids.length}` }] };
  const bad = ids.filter((id) => !PEER_ID_PATTERN.test(id));
  if (bad.length) return { errors: bad.slice(0, 3).map((id) => ({ field: 'peers', message: `${shown(id)} is not a node id (1-64 of [A-Za-z0-9_-])` })) };
  return ids.length ? { peers: ids } : {};
}
