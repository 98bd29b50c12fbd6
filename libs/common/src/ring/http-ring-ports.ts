import Redis from 'ioredis';
import { RingRepository } from '../redis/ring.repository';
import { RingPorts } from './ring-watcher';

/** An HTTP request that resolves with the response when it answered 2xx in time, else undefined. */
export async function httpOk(url: string, init: RequestInit, timeoutMs: number): Promise<Response | undefined> {
  try {
    const r = await fetch(url, { ...init, signal: AbortSignal.timeout(timeoutMs) });
    return r.ok ? r : undefined;
  } catch {
    return undefined;
  }
}

/** A buddy's direct probe of a node's address. */
export async function pingNode(address: string, timeoutMs: number): Promise<boolean> {
  return (await httpOk(`${address}/v1/ring/ping`, {}, timeoutMs)) !== undefined;
}

/**
 * The ring watcher's ports as the repeaters provide them: the table through the repository (on
 * `conn`, a connection of its own), pings, indirect probes and replace messages over HTTP.
 */
export function httpRingPorts(repo: RingRepository, conn: Redis): RingPorts {
  return {
    read: () => repo.read(),
    announce: (id, address) => repo.announce(id, address),
    remove: (id) => repo.remove(id),
    replace: (id, old, next) => repo.replace(id, old, next),
    ping: pingNode,
    probeVia: async (via, target, timeoutMs) => {
      const r = await httpOk(`${via}/v1/ring/probe?target=${encodeURIComponent(target)}`, { method: 'POST' }, timeoutMs);
      return r !== undefined && ((await r.json()) as { alive?: boolean }).alive === true;
    },
    tellReplace: async (address, old, next) => {
      await httpOk(`${address}/v1/ring/replace?old=${encodeURIComponent(old)}&next=${encodeURIComponent(next)}`, { method: 'POST' }, 1000);
    },
    storeReachable: () => conn.status === 'ready',
  };
}
