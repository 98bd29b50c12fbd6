/**
 * A host of lightweight ring nodes for `bench:ring`: each node is a RingWatcher (the same class
 * the repeaters run) with its own HTTP listener and its own Redis connection, several per process
 * so that 50 nodes fit on two cores. Driven by its parent over IPC.
 */
import { createServer, IncomingMessage, Server, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import Redis from 'ioredis';
import { RingRepository } from '../../libs/common/src/redis/ring.repository';
import { httpRingPorts, pingNode } from '../../libs/common/src/ring/http-ring-ports';
import { RingWatcher } from '../../libs/common/src/ring/ring-watcher';
import { freePort } from '../../libs/common/src/testing/farm-process';

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
const KEY = process.env.RING_KEY as string;
const INTERVAL = Number(process.env.PING_INTERVAL_MS ?? 1000);
const MISSES = Number(process.env.PING_MISSES ?? 3);
const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };

/** One subscriber connection per host process for the notices of every node it hosts. */
const notices = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: null });
notices.on('error', () => undefined);
notices.setMaxListeners(0);

interface Hosted {
  id: string;
  server: Server;
  sockets: Set<Socket>;
  conn: Redis;
  repo: RingRepository;
  watcher: RingWatcher;
  allToAll?: NodeJS.Timeout;
  allToAllPings: number;
  /** The earlier design's cost, for the baseline: the whole table read every round. */
  fullReads?: NodeJS.Timeout;
  reading?: boolean;
}

const nodes = new Map<string, Hosted>();

async function startNode(id: string): Promise<void> {
  const port = await freePort();
  const address = `http://127.0.0.1:${port}`;
  const conn = new Redis(REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: true });
  conn.on('error', () => undefined);
  await conn.connect();
  const repo = new RingRepository(conn, KEY);
  const watcher = new RingWatcher(
    httpRingPorts(repo, conn, undefined, { redis: notices, key: KEY }),
    { id, address, intervalMs: INTERVAL, misses: MISSES, log: quiet },
  );
  const sockets = new Set<Socket>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', address);
    const done = (body: unknown): void => void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (u.pathname === '/v1/ring/ping') return done({ ok: true });
    if (u.pathname === '/v1/ring/probe') {
      const target = u.searchParams.get('target') ?? '';
      void repo.readRows([target]).then(async (t) => done({ alive: t[target] ? await pingNode(t[target].address, Math.floor(INTERVAL * 0.8)) : false }), () => done({ alive: false }));
      return;
    }
    if (u.pathname === '/v1/ring/replace') {
      void watcher.onReplace(u.searchParams.get('old') ?? '', u.searchParams.get('next') ?? '').then(() => done({ ok: true }), () => done({ ok: false }));
      return;
    }
    res.writeHead(404).end();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  nodes.set(id, { id, server, sockets, conn, repo, watcher, allToAllPings: 0 });
  await watcher.start();
}

/** A crash: no leave, the listener gone (connections refused), the watcher stopped. */
function kill(id: string): void {
  const n = nodes.get(id);
  if (!n) return;
  n.watcher.halt();
  if (n.allToAll) clearInterval(n.allToAll);
  if (n.fullReads) clearInterval(n.fullReads);
  n.server.close();
  n.sockets.forEach((s) => s.destroy());
  n.conn.disconnect();
  nodes.delete(id);
}

/** The baseline: every node pings every other node each interval. */
async function allToAll(addresses: Record<string, string>, on: boolean): Promise<void> {
  for (const n of nodes.values()) {
    if (!on) {
      if (n.allToAll) clearInterval(n.allToAll);
      n.allToAll = undefined;
      continue;
    }
    n.watcher.halt();
    n.allToAll = setInterval(() => {
      for (const [id, addr] of Object.entries(addresses)) {
        if (id === n.id) continue;
        n.allToAllPings++;
        void pingNode(addr, Math.floor(INTERVAL * 0.8));
      }
    }, INTERVAL);
  }
}

/** The baseline of the table's cost: every node also reads the whole table each interval, as the watcher did before notices. */
function fullReads(on: boolean): void {
  for (const n of nodes.values()) {
    if (n.fullReads) clearInterval(n.fullReads);
    // One read in flight per node, as the earlier design's rounds never overlapped: a Redis that
    // cannot keep up slows the rounds down instead of queueing reads without end.
    n.fullReads = on
      ? setInterval(() => {
        if (n.reading) return;
        n.reading = true;
        void n.repo.read().catch(() => undefined).finally(() => (n.reading = false));
      }, INTERVAL)
      : undefined;
  }
}

process.on('message', (m: { cmd: string; id?: string; ids?: string[]; addresses?: Record<string, string>; on?: boolean; seq: number }) => {
  const reply = (body: unknown): void => void process.send?.({ seq: m.seq, body });
  void (async () => {
    if (m.cmd === 'start') {
      for (const id of m.ids ?? []) await startNode(id);
      return reply({ addresses: Object.fromEntries([...nodes.values()].map((n) => [n.id, `http://127.0.0.1:${(n.server.address() as { port: number }).port}`])) });
    }
    if (m.cmd === 'kill') return reply(kill(m.id as string));
    if (m.cmd === 'stats') return reply(Object.fromEntries([...nodes.values()].map((n) => [n.id, { ...n.watcher.stats, allToAllPings: n.allToAllPings }])));
    if (m.cmd === 'all-to-all') return reply(await allToAll(m.addresses ?? {}, m.on === true));
    if (m.cmd === 'full-reads') return reply(fullReads(m.on === true));
    if (m.cmd === 'exit') {
      for (const id of [...nodes.keys()]) kill(id);
      notices.disconnect();
      reply(null);
      setTimeout(() => process.exit(0), 50);
    }
  })().catch((err: Error) => reply({ error: err.message }));
});
