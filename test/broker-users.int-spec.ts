import * as amqp from 'amqplib';
import { CommandSigner, Keyring } from '../libs/common/src/auth';
import { RING_PROBE } from '../libs/common/src/ring/http-ring-ports';
import { ORIGIN_HEADER } from '../libs/common/src/contracts/topology';
import { AppProcess } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { Feed } from './support/feed';
import { counter, metricsPage } from './support/metrics';
import { TestFarm, notification } from './support/test-farm';

jest.setTimeout(90_000);

/** What the broker did with one publish: confirmed it, or closed the channel (and why). */
async function publishAs(url: string, exchange: string, routingKey: string, body: object, options: amqp.Options.Publish = {}): Promise<string> {
  const conn = await amqp.connect(url);
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createConfirmChannel();
    let closedWith = '';
    ch.on('error', (err: Error) => (closedWith = err.message));
    const confirmed = new Promise<string>((resolve) => {
      ch.publish(exchange, routingKey, Buffer.from(JSON.stringify(body)), { persistent: true, contentType: 'application/json', ...options }, (err) => resolve(err ? 'nacked' : 'confirmed'));
    });
    const closed = new Promise<string>((resolve) => ch.once('close', () => resolve(`closed: ${closedWith}`)));
    const first = await Promise.race([confirmed, closed]);
    // A channel the broker closes nacks what it had in hand first: the close says why.
    if (first === 'nacked') return Promise.race([closed, new Promise<string>((r) => setTimeout(() => r('nacked'), 2000))]);
    return first;
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** What the broker did when a user declared a client's queue (as the failover library does) and consumed it. */
async function consumeClientQueueAs(url: string, queue: string): Promise<string> {
  const conn = await amqp.connect(url);
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createChannel();
    let closedWith = '';
    ch.on('error', (err: Error) => (closedWith = err.message));
    try {
      await ch.assertQueue(queue, { durable: false, exclusive: true, autoDelete: true });
      await ch.consume(queue, () => undefined);
      return 'consuming';
    } catch (err) {
      return `closed: ${closedWith || (err as Error).message}`;
    }
  } finally {
    await conn.close().catch(() => undefined);
  }
}

/** A re-broadcast as a node sends it: a batch of one notification. */
const rebroadcast = (i: number) => [notification(i, { target: `forged${i}` })];

/**
 * Broker users with least privilege, as the local farm sets them up: each process its own
 * RabbitMQ user, the broker refusing what a user may not do, and nodes accepting a re-broadcast
 * only from the user of the node it names (RabbitMQ checks `user_id` against the connection).
 */
describe('broker users: least privilege and the origin of re-broadcasts', () => {
  const farm = new TestFarm('broker-users');
  let a: AppProcess;
  let b: AppProcess;
  let poller: AppProcess;
  let monitorUrl: string;

  beforeAll(async () => {
    await farm.withBrokerUsers([{ role: 'node', id: 'a' }, { role: 'node', id: 'b' }, { role: 'poller' }, { role: 'monitor' }, { role: 'attendant', id: 'srv-u' }, { role: 'client', id: 'web-1' }, { role: 'client', id: 'web-2' }]);
    monitorUrl = farm.brokerUrl('monitor');
    [a, b] = await Promise.all([farm.startNode('a'), farm.startNode('b')]);
    await farm.startAttendant('srv-u', { repeaterUrl: a.url, checkTimeoutMs: 500, probes: { login: { intervalMs: 1000 }, refresh: { intervalMs: 2000 } }, services: [] });
    poller = await farm.startPoller({ POLL_TICK_MS: '200', POLL_INTERVALS_MS: '1000,500' });
  });
  afterAll(() => farm.cleanup());

  it('nodes connect as their own users, and a monitor\'s notification reaches every node through re-broadcasts checked for their origin', async () => {
    expect(new URL(farm.brokerUrl('node', 'a')).username).toBe(encodeURIComponent(`${farm.ns}.node.a`));
    expect(await publishAs(monitorUrl, farm.t.ingressExchange, 'notification', notification(1))).toBe('confirmed');
    await farm.converged(1, ['a', 'b']);
    expect(farm.logLines(/re-broadcast .* (carries no user_id|was published by broker user)/)).toEqual([]);
  });

  it('the poller and an attendant, each as its own user, query and answer (RPC through the default exchange, replies by direct reply-to) and the attendant\'s login probe reads its mailbox', async () => {
    expect(farm.brokerUrl('attendant', 'srv-u')).toContain(encodeURIComponent(`${farm.ns}.attendant.srv-u`));
    type View = { lastAnswerAt: string | null; lastCompilation: { probes: { login: { ok: boolean; detail: string } | null } } | null };
    const seen = await waitFor('the poller has an answer from srv-u with a login probe', async () => {
      const v = await poller.get<View>('/v1/servers/srv-u').catch(() => undefined);
      return v?.lastAnswerAt && v.lastCompilation?.probes.login ? v : undefined;
    }, 30_000);
    expect(seen.lastCompilation?.probes.login).toMatchObject({ ok: true });
  });

  it('the broker refuses a monitor that publishes to the fanout exchange, or straight to a node\'s queue', async () => {
    expect(await publishAs(monitorUrl, farm.t.fanoutExchange, '', rebroadcast(2), { headers: { [ORIGIN_HEADER]: 'a' } })).toMatch(/^closed: .*403 \(ACCESS-REFUSED\).*exchange '.*\.fanout'/);
    expect(await publishAs(monitorUrl, '', farm.t.nodeQueue('a'), rebroadcast(3), { headers: { [ORIGIN_HEADER]: 'a' } })).toMatch(/^closed: .*403 \(ACCESS-REFUSED\).*exchange 'amq\.default'/);
    // And a user_id not its own: RabbitMQ checks it against the connection's user.
    expect(await publishAs(monitorUrl, farm.t.ingressExchange, 'notification', notification(4), { userId: `${farm.ns}.node.a` })).toMatch(/^closed: .*PRECONDITION-FAILED.*user_id property set to/);
  });

  it('a failover client\'s user declares and consumes its own queue only: the broker refuses it another client\'s', async () => {
    const own = farm.brokerUrl('client', 'web-1');
    expect(new URL(own).username).toBe(encodeURIComponent(`${farm.ns}.client.web-1`));
    expect(await consumeClientQueueAs(own, `${farm.ns}.client.web-1`)).toBe('consuming');
    expect(await consumeClientQueueAs(own, `${farm.ns}.client.web-2`)).toMatch(/^closed: .*403 \(ACCESS-REFUSED\).*queue '.*\.client\.web-2'/);
    expect(await consumeClientQueueAs(farm.brokerUrl('client', 'web-2'), `${farm.ns}.client.web-2`)).toBe('consuming');
    // Nor may it publish anything: not even to another client through the default exchange.
    expect(await publishAs(own, '', `${farm.ns}.client.web-2`, { kind: 'failover' })).toMatch(/^closed: .*403 \(ACCESS-REFUSED\).*exchange 'amq\.default'/);
  });

  it('a node refuses re-broadcasts that do not come from the node they name: dead-lettered with the reason, counted, and raised on the poller\'s feed', async () => {
    const feed = new Feed();
    await feed.open(poller.url, farm.auth());
    try {
      const before = counter(await metricsPage(a), 'farm_rebroadcasts_refused_total');
      // Node a's user may publish to the fanout, but claims to be node b.
      expect(await publishAs(farm.brokerUrl('node', 'a'), farm.t.fanoutExchange, '', rebroadcast(5), { userId: `${farm.ns}.node.a`, headers: { [ORIGIN_HEADER]: 'b' } })).toBe('confirmed');
      // No origin at all.
      expect(await publishAs(farm.brokerUrl('node', 'a'), farm.t.fanoutExchange, '', rebroadcast(6), { userId: `${farm.ns}.node.a` })).toBe('confirmed');
      // The poller's user may publish to the default exchange (its RPC to attendants), so straight into a node's queue, claiming node a.
      expect(await publishAs(farm.brokerUrl('poller'), '', farm.t.nodeQueue('a'), rebroadcast(7), { userId: `${farm.ns}.poller`, headers: { [ORIGIN_HEADER]: 'a' } })).toBe('confirmed');
      // Without user_id (RabbitMQ checks it only when present).
      expect(await publishAs(farm.brokerUrl('poller'), '', farm.t.nodeQueue('b'), rebroadcast(8), { headers: { [ORIGIN_HEADER]: 'b' } })).toBe('confirmed');

      const seen: { reason: string; body: string }[] = [];
      const dead = await waitFor('six refused re-broadcasts dead-lettered (both nodes refuse the two on the fanout; one node each the two sent to its queue)', async () => {
        const got = await farm.deadLetters();
        seen.push(...got);
        return seen.length >= 6 ? seen : undefined;
      }, 20_000);
      const reasons = dead.map((d) => d.reason).sort();
      expect(reasons).toEqual([
        `a re-broadcast claiming origin a was published by broker user ${farm.ns}.poller, not ${farm.ns}.node.a`,
        `a re-broadcast claiming origin b carries no user_id (expected ${farm.ns}.node.b)`,
        `a re-broadcast claiming origin b was published by broker user ${farm.ns}.node.a, not ${farm.ns}.node.b`,
        `a re-broadcast claiming origin b was published by broker user ${farm.ns}.node.a, not ${farm.ns}.node.b`,
        'a re-broadcast must name its origin node in the x-origin-node header',
        'a re-broadcast must name its origin node in the x-origin-node header',
      ].sort());
      // Nothing forged was applied: both nodes still hold only the monitor's notification.
      await farm.converged(1, ['a', 'b']);
      for (const id of ['a', 'b']) expect((await farm.snapshot(id)).entries.map((e) => (e as { target: string }).target)).not.toContain('forged5');
      expect(counter(await metricsPage(a), 'farm_rebroadcasts_refused_total') - before).toBe(3);

      const raised = await waitFor('the refusals on the poller\'s feed', async () => {
        const r = feed.events.filter((e) => e.event === 'refusal');
        return r.length >= 6 ? r : undefined;
      }, 15_000);
      expect(raised.map((e) => e.data.receiver).sort()).toEqual(['a', 'a', 'a', 'b', 'b', 'b']);
      expect(new Set(raised.map((e) => `${e.data.command} ${e.data.reason}`))).toEqual(new Set(['rebroadcast origin']));
      const listed = (await (await fetch(`${poller.url}/v1/refusals?limit=6`, { headers: farm.auth() })).json()) as { refusals: { receiver: string; message: string }[] };
      expect(listed.refusals).toHaveLength(6);
    } finally {
      await feed.close();
    }
  });

  it('a node acks its own re-broadcasts unread: one sent as node a\'s user naming node a is applied by b, and a only counts it (it applied what it sends before sending it)', async () => {
    const before = counter(await metricsPage(a), 'farm_own_rebroadcasts_skipped_total');
    const beforeB = counter(await metricsPage(b), 'farm_own_rebroadcasts_skipped_total');
    // Node a's user naming node a: what a sends when it re-broadcasts (here a notification a never took).
    expect(await publishAs(farm.brokerUrl('node', 'a'), farm.t.fanoutExchange, '', notification(9, { target: 'forged9' }), { userId: `${farm.ns}.node.a`, headers: { [ORIGIN_HEADER]: 'a' } })).toBe('confirmed');
    await waitFor('b holds forged9', async () => ((await farm.snapshot('b')).entries.some((e) => (e as { target: string }).target === 'forged9') ? true : undefined), 15_000);
    await waitFor('a counted its own re-broadcast', async () => (counter(await metricsPage(a), 'farm_own_rebroadcasts_skipped_total') === before + 1 ? true : undefined), 15_000);
    expect((await farm.snapshot('a')).entries.map((e) => (e as { target: string }).target)).not.toContain('forged9');
    expect(counter(await metricsPage(b), 'farm_own_rebroadcasts_skipped_total')).toBe(beforeB);
    // A handshake makes a whole again (b sends what a lacks), as after any loss.
    expect((await a.post('/v1/sync')).status).toBe(200);
    await farm.converged(2, ['a', 'b']);
  });

  it('never writes a broker user\'s password in any log line', () => {
    const logs = farm.logLines(/./).join('\n');
    expect(logs).toContain(`${farm.ns}.node.a`); // the processes do log their broker URLs, redacted
    for (const role of [['node', 'a'], ['node', 'b'], ['poller'], ['attendant', 'srv-u']] as const) {
      const password = decodeURIComponent(new URL(farm.brokerUrl(role[0], role[1])).password);
      expect(password.length).toBeGreaterThan(20);
      expect(logs).not.toContain(password);
    }
  });

  it('a refused signed command is raised on the poller\'s feed too', async () => {
    const feed = new Feed();
    await feed.open(poller.url, farm.auth());
    try {
      const stranger = new CommandSigner('mallory', new Keyring([{ id: 'k9', secret: Buffer.alloc(32, 9), active: true }]), Date.now);
      const r = await fetch(`${b.url}/v1/ring/probe?target=a`, { method: 'POST', headers: stranger.httpHeaders('b', RING_PROBE, { target: 'a' }) });
      expect(r.status).toBe(401);
      const raised = await waitFor('the refused probe on the feed', async () => feed.events.find((e) => e.event === 'refusal' && e.data.command === RING_PROBE), 15_000);
      expect(raised.data).toMatchObject({ receiver: 'b', command: RING_PROBE, claimedSender: 'mallory' });
      expect(raised.data.reason).toMatch(/key/);
    } finally {
      await feed.close();
    }
  });

});
