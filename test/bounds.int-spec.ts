import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ClientRequest, IncomingMessage, get } from 'node:http';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { TestFarm, notification } from './support/test-farm';
import { readAllAvailability } from '../libs/common/src/http/availability-pages';
import { AppProcess, REPO_ROOT } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';

const run = promisify(execFile);
const MAX_SSE = 3;
const ENTRIES = 1005;

interface Page {
  nodeId: string;
  count: number;
  digest: string;
  entries: { target: string; targetType: string; kind: string }[];
  next: string | null;
}

/** One live-feed connection: its status, content type and body so far; `close()` hangs up. */
interface Feed {
  status: number;
  contentType: string;
  body: () => string;
  close: () => void;
}

/** Opens `GET /v1/events` on a real HTTP connection and resolves once the headers arrived. */
function openFeed(url: string, headers: Record<string, string>): Promise<Feed> {
  return new Promise((resolve, reject) => {
    let text = '';
    const req: ClientRequest = get(`${url}/v1/events`, { agent: false, headers }, (res: IncomingMessage) => {
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('error', () => undefined);
      resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body: () => text, close: () => req.destroy() });
    });
    req.on('error', reject);
  });
}

async function getJson(url: string, headers: Record<string, string>): Promise<{ status: number; body: unknown }> {
  const r = await fetch(url, { headers });
  return { status: r.status, body: await r.json() };
}

/** Bounded resources at the edges: the poller's live feed, the repeater's sync and snapshot. */
describe('bounded edges', () => {
  const farm = new TestFarm('bounds');
  let poller: AppProcess;
  let a: AppProcess;
  const feeds: Feed[] = [];

  beforeAll(async () => {
    [a] = await Promise.all([farm.startNode('a'), farm.startNode('b')]);
    poller = await farm.startPoller({ POLLER_MAX_SSE_CLIENTS: String(MAX_SSE) });
  }, 60_000);

  afterAll(async () => {
    for (const f of feeds) f.close();
    await farm.cleanup();
  });

  it(`serves at most POLLER_MAX_SSE_CLIENTS (${MAX_SSE}) live-feed clients, 503 with JSON beyond, and a client that leaves frees its slot`, async () => {
    for (let i = 0; i < MAX_SSE; i++) feeds.push(await openFeed(poller.url, farm.auth()));
    expect(feeds.map((f) => [f.status, f.contentType])).toEqual(feeds.map(() => [200, expect.stringContaining('text/event-stream')]));

    const refused = await openFeed(poller.url, farm.auth());
    expect(refused.status).toBe(503);
    expect(refused.contentType).toContain('application/json');
    await waitFor('the refusal body', async () => refused.body().length > 0 && refused.body().endsWith('}'), 5000);
    expect(JSON.parse(refused.body())).toMatchObject({ error: 'too many live-feed clients', max: MAX_SSE });

    // One client hangs up: its slot is free again (once the poller has seen the close), and only one.
    feeds.shift()!.close();
    const again = await waitFor('a slot freed', async () => {
      const f = await openFeed(poller.url, farm.auth());
      if (f.status === 200) return f;
      f.close();
      return undefined;
    }, 10_000, 100);
    feeds.push(again);
    const full = await openFeed(poller.url, farm.auth());
    full.close();
    expect(full.status).toBe(503);
  }, 60_000);

  it('serves at most HTTP_MAX_IN_FLIGHT requests at once: the rest get 503 with Retry-After at once, counted, while probes still answer', async () => {
    const c = await farm.startNode('c', { HTTP_MAX_IN_FLIGHT: '2' });
    // Two handshakes with nodes that do not exist hold both places until SYNC_TIMEOUT_MS (3 s).
    const slow = [1, 2].map((i) => fetch(`${c.url}/v1/sync?peers=ghost${i}`, { method: 'POST', headers: farm.auth() }));
    const shed = await waitFor('a third request refused while both places are held', async () => {
      const r = await fetch(`${c.url}/v1/availability?limit=1`, { headers: farm.auth() });
      return r.status === 503 ? { retryAfter: r.headers.get('retry-after'), body: (await r.json()) as { error?: string; limit?: number } } : undefined;
    }, 2500, 50);
    expect(shed).toMatchObject({ retryAfter: '1', body: { error: 'overloaded', limit: 2 } });
    expect((await fetch(`${c.url}/v1/health`)).status).toBe(200);
    const during = await (await fetch(`${c.url}/metrics`, { headers: farm.auth() })).text();
    expect(during).toMatch(/^farm_http_in_flight 2$/m);
    for (const r of await Promise.all(slow)) expect(r.status).toBe(200);
    expect((await fetch(`${c.url}/v1/availability?limit=1`, { headers: farm.auth() })).status).toBe(200);
    const metrics = await (await fetch(`${c.url}/metrics`, { headers: farm.auth() })).text();
    expect(metrics).toMatch(/^farm_http_in_flight_limit 2$/m);
    expect(metrics).toMatch(/^farm_http_in_flight 0$/m);
    expect(Number(/^farm_http_shed_total (\d+)$/m.exec(metrics)?.[1])).toBeGreaterThanOrEqual(1);
    expect(metrics).toMatch(/^farm_event_loop_utilization (0|0?\.\d+|1)(e-\d+)?$/m);
    await c.stop();
  });

  it('POST /v1/sync refuses more than 16 peers at once, fast, with a JSON body', async () => {
    const peers = Array.from({ length: 300 }, (_, i) => `made-up-${i}`).join(',');
    const started = Date.now();
    const r = await a.post(`/v1/sync?peers=${peers}`);
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ errors: [{ field: 'peers', message: 'at most 16 peers per sync, got 300' }] });
    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('POST /v1/sync refuses a peer id that is not a node id before it reaches a log line', async () => {
    const forged = 'x\nLOG [Sync] FORGED-LINE';
    const r = await a.post(`/v1/sync?peers=b,${encodeURIComponent(forged)}`);
    expect(r.status).toBe(400);
    expect(r.body).toEqual({ errors: [{ field: 'peers', message: `${JSON.stringify(forged)} is not a node id (1-64 of [A-Za-z0-9_-])` }] });
    // A real peer is still accepted, and the node's log never got the forged line.
    const ok = await a.post('/v1/sync?peers=b');
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ peers: [expect.objectContaining({ peer: 'b', ok: true })] });
    expect(readFileSync(a.logFile, 'utf8')).not.toContain('FORGED-LINE');
  }, 30_000);

  it(`GET /v1/availability pages ${ENTRIES} entries (default 1000 a page) and every reader follows next`, async () => {
    const ch = await farm.channel();
    for (let i = 0; i < ENTRIES; i++) ch.publish(farm.t.ingressExchange, 'notification', Buffer.from(JSON.stringify(notification(i))), { persistent: true });
    await ch.waitForConfirms();
    // converged() reads every node through the paging helper: it sees all the entries.
    const [snap] = await farm.converged(ENTRIES, ['a', 'b'], 60_000);
    expect(snap.entries).toHaveLength(ENTRIES);
    expect(new Set(snap.entries.map((e) => e.target)).size).toBe(ENTRIES);

    const first = await getJson(`${a.url}/v1/availability`, farm.auth());
    const p1 = first.body as Page;
    expect(p1).toMatchObject({ nodeId: 'a', count: ENTRIES, digest: snap.digest });
    expect(p1.entries).toHaveLength(1000);
    expect(p1.next).toEqual(expect.any(String));
    const p2 = (await getJson(`${a.url}/v1/availability?after=${encodeURIComponent(p1.next!)}`, farm.auth())).body as Page;
    expect(p2.entries).toHaveLength(ENTRIES - 1000);
    expect(p2.next).toBeNull();
    expect([...p1.entries, ...p2.entries]).toEqual(snap.entries);

    // Small pages through the helper give the same entries, in the same order.
    const small = await readAllAvailability(a.url, async (url) => (await getJson(url, farm.auth())).body, { pageSize: 100 });
    expect(small.entries).toEqual(snap.entries);
    expect(small).toMatchObject({ count: ENTRIES, digest: snap.digest, next: null });

    for (const bad of ['0', '10001', 'ten']) {
      const r = await getJson(`${a.url}/v1/availability?limit=${bad}`, farm.auth());
      expect(r).toEqual({ status: 400, body: { errors: [{ field: 'limit', message: 'limit must be an integer from 1 to 10000' }] } });
    }

    // farmctl status --json shows the whole state, not its first page.
    const { stdout } = await run(process.execPath, [join(REPO_ROOT, 'bin', 'farmctl.js'), 'status', '--node', a.url, '--json'], { env: { ...process.env, FARM_TOKEN: farm.creds.token } });
    const shown = JSON.parse(stdout) as Page;
    expect(shown.entries).toHaveLength(ENTRIES);
    expect(shown).toMatchObject({ count: ENTRIES, digest: snap.digest, next: null });
  }, 120_000);
});
