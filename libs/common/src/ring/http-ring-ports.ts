import Redis from 'ioredis';
import type { CommandSigner } from '../auth/command-verifier';
import { RingRepository, ringNoticeChannel } from '../redis/ring.repository';
import { RingPorts } from './ring-watcher';

/** The ring's commands between nodes, as their receivers' routes name them (`@FarmCommand`). */
export const RING_PROBE = 'ring-probe';
export const RING_REPLACE = 'ring-replace';

/** An HTTP request that resolves with the response when it answered 2xx in time, else undefined. */
export async function httpOk(url: string, init: RequestInit, timeoutMs: number): Promise<Response | undefined> {
  try {
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    return r.ok ? r : undefined;
  } catch {
    return undefined;
  }
}

/** A buddy's direct probe of a node's address (a liveness check: it reveals and changes nothing). */
export async function pingNode(address: string, timeoutMs: number): Promise<boolean> {
  return (await httpOk(`${address}/v1/ring/ping`, {}, timeoutMs)) !== undefined;
}

/**
 * The ring watcher's ports as the repeaters provide them: the table through the repository (on
 * `conn`, a connection of its own), pings, and indirect probes and replace messages over HTTP,
 * signed for their receiver when the farm signs its commands (`signer`; none with FARM_AUTH=off).
 * With `subscriber` (a connection of its own, in subscriber mode), the node follows the notices
 * of changes to its row.
 */
export function httpRingPorts(repo: RingRepository, conn: Redis, signer?: CommandSigner, subscriber?: { redis: Redis; key: string }): RingPorts {
  const post = (to: { id: string; address: string }, path: string, command: string, query: Record<string, string>, timeoutMs: number) =>
    httpOk(`${to.address}${path}?${new URLSearchParams(query).toString()}`, { method: 'POST', headers: signer?.httpHeaders(to.id, command, query) ?? {} }, timeoutMs);
  return {
    read: () => repo.read(),
    readOwn: (id) => repo.readOwn(id),
    readRows: (ids) => repo.readRows(ids),
    subscribe: subscriber ? async (id, onNotice) => {
      const channel = ringNoticeChannel(subscriber.key, id);
      subscriber.redis.on('message', (ch: string) => ch === channel && onNotice());
      // Notices sent while the connection was down are lost: doubt once it is back.
      subscriber.redis.on('ready', () => onNotice());
      if (subscriber.redis.status === 'wait') await subscriber.redis.connect();
      await subscriber.redis.subscribe(channel);
    } : undefined,
    announce: (id, address) => repo.announce(id, address),
    remove: (id) => repo.remove(id),
    replace: (id, old, next, sender) => repo.replace(id, old, next, sender),
    ping: pingNode,
    probeVia: async (via, target, timeoutMs) => {
      const r = await post(via, '/v1/ring/probe', RING_PROBE, { target }, timeoutMs);
      return r !== undefined && ((await r.json()) as { alive?: boolean }).alive === true;
    },
    tellReplace: async (to, old, next) => {
      await post(to, '/v1/ring/replace', RING_REPLACE, { old, next }, 1000);
    },
    storeReachable: () => conn.status === 'ready',
  };
}
