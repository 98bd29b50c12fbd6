import { readFileSync } from 'node:fs';
import Redis from 'ioredis';
import { Registry } from 'prom-client';
import { brokerGrant } from '../libs/common/src/auth/broker-users';
import { SIGNATURE_HEADER } from '../libs/common/src/auth/command-signature';
import { Keyring, parseKeyFile } from '../libs/common/src/auth/keyring';
import { RefusalLog, refusalEvents } from '../libs/common/src/auth/refusal-log';
import { failoverKeys } from '../libs/common/src/contracts/topology';
import { FailoverClient } from '../libs/common/src/failover/failover-client';
import { ClientMessage, signClientMessage } from '../libs/common/src/failover/failover-message';
import { AmqpClient } from '../libs/common/src/messaging/amqp-client';
import { FakeApp } from '../libs/common/src/testing/fake-app';
import { TestRedis } from '../libs/common/src/testing/redis-server';
import { AppProcess } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { failoverAttendantConfig, stopFailoverSuite } from './support/failover-farm';
import { localBrokerCtl } from './support/local-broker';
import { counter, metricsPage } from './support/metrics';
import { RABBITMQ_URL, TestFarm } from './support/test-farm';

jest.setTimeout(90_000);

const quiet = { log: () => undefined, warn: () => undefined, error: () => undefined };
const SET_SIZE = 2;
const INTERVAL_MS = 600;
const CLIENTS = 5;

/**
 * Load-aware failover end to end (issue 12): two servers, each a node with its attendant whose
 * load the test sets; five clients of the library on the first. Past the failover threshold every
 * client gets one signed message and moves to the alternate in accept; back under the
 * connection threshold they are invited back in sets, never more at once; forged, replayed,
 * stale and truncated messages change nothing and are counted.
 */
describe('load-aware failover: signed messages move clients and invite them back', () => {
  const farm = new TestFarm('failover');
  const loads = { a: new FakeApp(), b: new FakeApp() };
  let a: AppProcess;
  let b: AppProcess;
  let amqp: AmqpClient;
  let keyring: Keyring;
  const clients: FailoverClient[] = [];
  const moves: { client: string; from: string; to: string; at: number }[] = [];
  /** The clients' own Prometheus registry (a service's /metrics). */
  const registry = new Registry();
  const clientCount = async (name: string, labels: string) => counter(await registry.metrics(), name, labels);

  beforeAll(async () => {
    await Promise.all([loads.a.start(), loads.b.start()]);
    [a, b] = await Promise.all([farm.startNode('a'), farm.startNode('b')]);
    // a's attendant has a broker user of its own, so one test can take its right to publish away.
    await farm.withBrokerUsers([{ role: 'attendant', id: 'a' }]);
    const config = (node: AppProcess, load: FakeApp) => failoverAttendantConfig(node, load, { setSize: SET_SIZE, intervalMs: INTERVAL_MS });
    await Promise.all([farm.startAttendant('a', config(a, loads.a), { LOAD_INTERVAL_MS: '100' }), farm.startAttendant('b', config(b, loads.b), { LOAD_INTERVAL_MS: '100' })]);
    keyring = parseKeyFile(readFileSync(farm.creds.keysFile, 'utf8'), farm.creds.keysFile);
    amqp = new AmqpClient({ url: RABBITMQ_URL(), name: 'failover test clients', logger: quiet });
    await amqp.start();
    for (let i = 1; i <= CLIENTS; i++) {
      const c = new FailoverClient({ id: `c${i}`, address: `client-${i}:8080`, latencyMs: i, ns: farm.ns, server: { id: 'a', address: a.url }, keyring, redis: farm.redis, amqp, log: quiet, refusals: new RefusalLog(farm.redis, farm.ns), registry, startTimeoutMs: 20_000 });
      c.on('moved', (from: { id: string }, to: { id: string }) => moves.push({ client: `c${i}`, from: from.id, to: to.id, at: Date.now() }));
      await c.start();
      clients.push(c);
    }
  }, 90_000);

  afterAll(async () => {
    await stopFailoverSuite({ clients, amqp, farm, loads: [loads.a, loads.b] });
  });

  it('past the failover threshold, every client gets one valid signed message and moves to the server in accept', async () => {
    await waitFor('both servers in accept, with their clients registered at a', async () => Object.keys(await farm.redis.hgetall(failoverKeys(farm.ns).clients('a'))).length === CLIENTS);
    loads.a.inFlight = 90;
    await waitFor('every client on b', () => clients.every((c) => c.current.id === 'b'), 15_000, 50);
    expect(moves.filter((m) => m.from === 'a' && m.to === 'b').map((m) => m.client).sort()).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(moves).toHaveLength(CLIENTS); // one message each, no second move
    expect(clients.every((c) => c.current.address === b.url)).toBe(true);
    expect(Object.keys(await farm.redis.hgetall(failoverKeys(farm.ns).clients('b'))).sort()).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    expect(clients.every((c) => Object.keys(c.refused).length === 0)).toBe(true);
    // The attendant lists them as deferred (in its load, the compilation, the poller's view).
    const load = await waitFor('a lists its deferred clients', async () => {
      const l = await farm.attendants.get('a')!.get<{ deferred?: string[] }>('/v1/load');
      return l.deferred?.length === CLIENTS ? l : undefined;
    }, 5_000, 50);
    expect(load.deferred).toEqual(['c1', 'c2', 'c3', 'c4', 'c5']);
    const metrics = await metricsPage(farm.attendants.get('a')!);
    expect(counter(metrics, 'farm_failover_messages_total', 'kind="failover"')).toBe(CLIENTS);
    expect(metrics).toMatch(/^farm_deferred_clients 5$/m);
    expect(metrics).toMatch(/^farm_load_score 90$/m);
    // The client library counts into the service's registry.
    for (const c of clients) {
      expect(await clientCount('farm_failover_client_messages_total', `client="${c.id}",kind="failover"`)).toBe(1);
      expect(await clientCount('farm_failover_client_moves_total', `client="${c.id}",cause="deferred"`)).toBe(1);
    }
  });

  it('back under the connection threshold, invites them back in sets of at most reconnect.setSize, reconnect.intervalMs apart', async () => {
    const before = moves.length;
    loads.a.inFlight = 10;
    await waitFor('every client back on a', () => clients.every((c) => c.current.id === 'a'), 20_000, 50);
    const back = moves.slice(before).filter((m) => m.to === 'a').sort((x, y) => x.at - y.at);
    expect(back).toHaveLength(CLIENTS);
    for (const c of clients) expect(await clientCount('farm_failover_client_moves_total', `client="${c.id}",cause="invited"`)).toBe(1);
    // Sets: moves closer together than half the interval belong to one invitation round.
    const sets: number[][] = [];
    for (const m of back) {
      const last = sets[sets.length - 1];
      if (last && m.at - last[last.length - 1] < INTERVAL_MS / 2) last.push(m.at);
      else sets.push([m.at]);
    }
    expect(Math.max(...sets.map((s) => s.length))).toBeLessThanOrEqual(SET_SIZE);
    expect(sets.length).toBeGreaterThanOrEqual(Math.ceil(CLIENTS / SET_SIZE));
    for (let i = 1; i < sets.length; i++) expect(sets[i][0] - sets[i - 1][0]).toBeGreaterThanOrEqual(INTERVAL_MS - 100);
  });

  it('ignores forged, replayed, stale, truncated and misdirected messages, counting each by reason', async () => {
    const c1 = clients[0];
    expect(c1.current.id).toBe('a');
    const ch = await farm.channel();
    const send = async (m: ClientMessage, header: string) => {
      ch.publish('', failoverKeys(farm.ns).clientQueue('c1'), Buffer.from(JSON.stringify(m)), { headers: { [SIGNATURE_HEADER]: header } });
      await ch.waitForConfirms();
    };
    const toB: ClientMessage = { kind: 'failover', server: { id: 'a', address: a.url }, client: { id: 'c1', address: 'client-1:8080' }, alternates: [{ id: 'b', address: b.url, score: 1 }], reason: 'test', score: 99, components: [] };
    const stranger = new Keyring([{ id: 'k9', secret: Buffer.alloc(32, 9), active: true }]);
    await send(toB, signClientMessage(stranger, toB, Date.now()));
    await send(toB, signClientMessage(keyring, toB, Date.now() - 120_000));
    const valid = signClientMessage(keyring, toB, Date.now());
    await send(toB, valid.slice(0, -10));
    await send({ ...toB, client: { id: 'c1', address: 'elsewhere:1' } }, signClientMessage(keyring, { ...toB, client: { id: 'c1', address: 'elsewhere:1' } }, Date.now()));
    await waitFor('four refusals', () => Object.values(c1.refused).reduce((s, n) => s + n, 0) >= 4, 10_000, 50);
    expect(c1.refused).toEqual({ 'unknown-key': 1, stale: 1, truncated: 1, misdirected: 1 });
    expect(c1.current.id).toBe('a');
    // A valid one moves it; the same message again is a replay.
    await send(toB, valid);
    await waitFor('c1 moved by the valid message', () => c1.current.id === 'b', 10_000, 50);
    await send(toB, valid);
    await waitFor('the replay refused', () => c1.refused.replayed === 1, 10_000, 50);
    // Raised to the operators: the farm's refusals stream, which the poller's feed follows.
    const raised = refusalEvents((await farm.redis.xrange(`${farm.ns}:refusals`, '-', '+')) as [string, string[]][]);
    expect(raised.map((e) => `${e.receiver} ${e.command} ${e.reason}`).sort()).toEqual(['c1 failover misdirected', 'c1 failover replayed', 'c1 failover stale', 'c1 failover truncated', 'c1 failover unknown-key']);
    for (const reason of ['misdirected', 'replayed', 'stale', 'truncated', 'unknown-key']) expect(await clientCount('farm_failover_client_refused_total', `client="c1",reason="${reason}"`)).toBe(1);
  });

  it('a client asking to connect is refused by a deferring server, with the alternates, and accepted once it is back in accept; a client whose server fails goes to the best live one', async () => {
    const c6 = new FailoverClient({ id: 'c6', address: 'client-6:8080', ns: farm.ns, server: { id: 'b', address: b.url }, keyring, redis: farm.redis, amqp, log: quiet });
    await c6.start();
    clients.push(c6);
    const zoneOf = async (id: string) => (JSON.parse((await farm.redis.hget(`${farm.ns}:load`, id)) ?? '{}') as { zone?: string }).zone;
    loads.a.inFlight = 90;
    await waitFor('a defers', async () => (await zoneOf('a')) === 'defer', 10_000, 50);
    const refused = await c6.connect({ id: 'a', address: a.url });
    expect(refused).toEqual({ kind: 'refuse', zone: 'defer', alternates: [{ id: 'b', address: b.url, score: 10 }] });
    expect(c6.current.id).toBe('b');
    loads.a.inFlight = 10;
    await waitFor('a accepts again', async () => (await zoneOf('a')) === 'accept', 10_000, 50);
    expect(await c6.connect({ id: 'a', address: a.url })).toEqual({ kind: 'accept' });
    expect(c6.current.id).toBe('a');
    expect(await farm.redis.hexists(failoverKeys(farm.ns).clients('a'), 'c6')).toBe(1);
    expect(await farm.redis.hexists(failoverKeys(farm.ns).clients('b'), 'c6')).toBe(0);
    // Its own requests to a time out: it goes to the best server live and in accept other than a.
    expect(await c6.serverFailed('3 timeouts of 2 s')).toEqual({ id: 'b', address: b.url });
    expect(c6.current.id).toBe('b');
  });

  it('a group promised better service moves earlier: past its own threshold its clients move while the others stay', async () => {
    const gold = ['g1', 'g2'].map((id, i) => new FailoverClient({ id, group: 'gold', address: `gold-${i}:8080`, ns: farm.ns, server: { id: 'a', address: a.url }, keyring, redis: farm.redis, amqp, log: quiet }));
    const plain = new FailoverClient({ id: 'p1', address: 'plain-1:8080', ns: farm.ns, server: { id: 'a', address: a.url }, keyring, redis: farm.redis, amqp, log: quiet });
    for (const c of [...gold, plain]) {
      await c.start();
      clients.push(c);
    }
    loads.a.inFlight = 65; // past gold's failover threshold (50), only in the default hold zone (60..80)
    await waitFor('the gold clients on b', () => gold.every((c) => c.current.id === 'b'), 15_000, 50);
    await new Promise((r) => setTimeout(r, 500));
    expect(plain.current.id).toBe('a');
    expect(plain.accepted.failover).toBe(0);
    loads.a.inFlight = 10;
    await waitFor('the gold clients invited back', () => gold.every((c) => c.current.id === 'a'), 15_000, 50);
  });
  it('a valid message whose move Redis refuses is obeyed once Redis allows the write again, not refused as its own replay', async () => {
    // The client's own Redis lets it claim the nonce (SET) but refuses HSET, so the move fails
    // after the claim; the delivery stays unacknowledged and is retried until the move works.
    const store = await new TestRedis(false).start();
    const admin = store.client();
    await admin.acl('SETUSER', 'mover', 'on', '>mover-pw', '~*', '&*', '+@all');
    const redis = new Redis(store.url, { username: 'mover', password: 'mover-pw', maxRetriesPerRequest: null });
    redis.on('error', () => undefined);
    const c7 = new FailoverClient({ id: 'c7', address: 'client-7:8080', ns: farm.ns, server: { id: 'a', address: a.url }, keyring, redis, amqp, log: quiet });
    try {
      await c7.start();
      await admin.acl('SETUSER', 'mover', '-hset');
      const ch = await farm.channel();
      const m: ClientMessage = { kind: 'failover', server: { id: 'a', address: a.url }, client: { id: 'c7', address: 'client-7:8080' }, alternates: [{ id: 'b', address: b.url, score: 1 }], reason: 'test', score: 99, components: [] };
      ch.publish('', failoverKeys(farm.ns).clientQueue('c7'), Buffer.from(JSON.stringify(m)), { headers: { [SIGNATURE_HEADER]: signClientMessage(keyring, m, Date.now()) } });
      await ch.waitForConfirms();
      await waitFor('the nonce claimed', async () => (await admin.keys(`${farm.ns}:nonce:c7:*`)).length === 1, 10_000, 20);
      await new Promise((r) => setTimeout(r, 500));
      expect(c7.current.id).toBe('a'); // the move failed: HSET refused
      expect(await admin.hexists(failoverKeys(farm.ns).clients('b'), 'c7')).toBe(0);
      await admin.acl('SETUSER', 'mover', '+hset');
      await waitFor('c7 moved once its Redis takes HSET again', () => c7.current.id === 'b', 15_000, 50);
      expect(await admin.hexists(failoverKeys(farm.ns).clients('b'), 'c7')).toBe(1);
      expect(c7.refused).toEqual({});
      expect(c7.accepted.failover).toBe(1);
    } finally {
      await c7.stop();
      redis.disconnect();
      await store.destroy();
    }
  });

  it('an invitation the broker refuses is sent again once the broker takes it: no deferred client is lost', async () => {
    const attendant = farm.attendants.get('a')!;
    const onA = clients.filter((c) => c.current.id === 'a');
    const ids = onA.map((c) => c.id).sort();
    expect(onA.length).toBeGreaterThanOrEqual(3);
    loads.a.inFlight = 90;
    await waitFor('the clients of a moved to b', () => onA.every((c) => c.current.id === 'b'), 15_000, 50);
    await waitFor('a lists them as deferred', async () => JSON.stringify((await attendant.get<{ deferred?: string[] }>('/v1/load')).deferred) === JSON.stringify(ids), 5_000, 50);
    // The broker stops taking a's publishes: no write on any exchange, and its open channels
    // (which cache what they were allowed) are closed so the new rule applies at once.
    const grant = brokerGrant(farm.ns, 'attendant', 'a');
    await localBrokerCtl('set_permissions', grant.user, grant.configure, '^$', grant.read);
    try {
      const conns = (await localBrokerCtl('list_connections', '-q', '--no-table-headers', 'pid', 'user')).split('\n').map((l) => l.split('\t')).filter(([pid, user]) => pid && user === grant.user);
      expect(conns.length).toBeGreaterThan(0);
      for (const [pid] of conns) await localBrokerCtl('close_connection', pid, 'closed by the failover test');
      const refusedBefore = counter(await metricsPage(attendant), 'farm_failover_send_failures_total', 'kind="invitation"');
      loads.a.inFlight = 10;
      await waitFor('invitations refused by the broker, several samples running', async () => counter(await metricsPage(attendant), 'farm_failover_send_failures_total', 'kind="invitation"') >= refusedBefore + 3, 20_000, 100);
      expect(onA.every((c) => c.current.id === 'b')).toBe(true);
      expect((await attendant.get<{ deferred?: string[] }>('/v1/load')).deferred).toEqual(ids); // still deferred: none dropped
      expect(Object.keys(await farm.redis.hgetall(failoverKeys(farm.ns).deferred('a'))).sort()).toEqual(ids);
    } finally {
      await localBrokerCtl('set_permissions', grant.user, grant.configure, grant.write, grant.read);
    }
    await waitFor('every one of them invited back once the broker takes the invitations', () => onA.every((c) => c.current.id === 'a'), 30_000, 50);
    expect(onA.every((c) => c.accepted.invitation >= 1)).toBe(true);
    await waitFor('none left deferred', async () => (await attendant.get<{ deferred?: string[] }>('/v1/load')).deferred?.length === 0, 5_000, 50);
    expect(await farm.redis.hlen(failoverKeys(farm.ns).deferred('a'))).toBe(0);
  });
});
