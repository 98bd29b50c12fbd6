import { Agent as HttpAgent, ClientRequest, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import Redis from 'ioredis';
import type { CommandSigner } from '../auth/command-verifier';
import { RingRepository, ringNoticeChannel } from '../redis/ring.repository';
import { RingPorts } from './ring-watcher';

/** The ring's commands between nodes, as their receivers' routes name them (`@FarmCommand`). */
export const RING_PROBE = 'ring-probe';
export const RING_REPLACE = 'ring-replace';

/** What a ring peer answered: its status (2xx) and its body, read to the end. */
export interface RingReply {
  status: number;
  body: string;
}

// Pings go to the same two buddies every round: one kept-alive connection each, not a new one per
// ping. (A fetch whose body is left unread also keeps its connection from being reused.)
const agents = { http: new HttpAgent({ keepAlive: true }), https: new HttpsAgent({ keepAlive: true }) };

/**
 * An HTTP request to a ring peer that resolves with its reply when it answered 2xx within
 * `timeoutMs` (body read to the end, so the connection goes back to the pool), else undefined.
 * Never rejects.
 */
export function httpOk(url: string, init: { method?: string; headers?: Record<string, string> }, timeoutMs: number): Promise<RingReply | undefined> {
  return new Promise((resolve) => {
    let req: ClientRequest | undefined;
    let settled = false;
    const timer = setTimeout(() => {
      req?.destroy();
      finish(undefined);
    }, timeoutMs);
    const finish = (reply: RingReply | undefined): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(reply);
    };
    try {
      const u = new URL(url);
      const tls = u.protocol === 'https:';
      req = (tls ? httpsRequest : httpRequest)(u, { method: init.method ?? 'GET', headers: init.headers, agent: tls ? agents.https : agents.http }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', () => finish(undefined));
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          finish(status >= 200 && status < 300 ? { status, body: Buffer.concat(chunks).toString('utf8') } : undefined);
        });
      });
    } catch {
      finish(undefined);
      return;
    }
    req.on('error', () => finish(undefined));
    req.end();
  });
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
      if (r === undefined) return false;
      try {
        return (JSON.parse(r.body) as { alive?: boolean } | null)?.alive === true;
      } catch {
        return false;
      }
    },
    tellReplace: async (to, old, next) => {
      await post(to, '/v1/ring/replace', RING_REPLACE, { old, next }, 1000);
    },
    storeReachable: () => conn.status === 'ready',
  };
}
