import * as amqp from 'amqplib';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitoringKeys } from '../libs/common/src/contracts/topology';
import { AppProcess } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { assertLocalBroker, localBrokerCtl, restartLocalBroker, startLocalBroker, stopLocalBroker } from './support/local-broker';
import { Feed } from './support/feed';
import { RABBITMQ_URL, TestFarm } from './support/test-farm';

/**
 * The broker going away under the monitoring path (attendant → poller → ingress → repeater):
 * a restart loses no poll answer for good and no notification, and the poller's outbox of
 * unconfirmed notifications, kept in Redis, survives the poller being killed while the broker
 * refuses or is away. Restarts the documented local broker only (rabbitmqctl stop_app /
 * start_app); against any other broker these tests fail, saying why.
 */

const NORMAL_MS = 1500;
const CRITICAL_MS = 400;
const POLL_TIMEOUT_MS = 1000;
const BROKER_BACK_MS = 60_000;
const TEST_TIMEOUT_MS = 240_000;

type ServerView = {
  id: string; list: 'normal' | 'critical'; deficiencies: { kind: string; service?: string; detail: string }[];
  lastPolledAt: string | null; lastAnswerAt: string | null;
};
type PollerHealth = { status: string; role: string; broker: string; outbox: number };
type Outboxed = { id: string; target: string; available: boolean; component?: string };

/** Runs `fn` on a confirm channel of a fresh connection (the suite's cached one dies with each broker restart). */
async function withChannel<T>(fn: (ch: amqp.ConfirmChannel) => Promise<T>): Promise<T> {
  const conn = await amqp.connect(RABBITMQ_URL());
  conn.on('error', () => undefined);
  try {
    const ch = await conn.createConfirmChannel();
    ch.on('error', () => undefined);
    return await fn(ch);
  } finally {
    await conn.close().catch(() => undefined);
  }
}

describe('monitoring through broker restarts: no lost answer, no lost notification', () => {
  const farm = new TestFarm('monitoring-broker');
  const serverId = 'srv-m';
  const flagDir = mkdtempSync(join(tmpdir(), 'monitoring-broker-'));
  const flag = (name: string) => join(flagDir, `${name}.down`);
  const raise = (name: string) => writeFileSync(flag(name), 'down\n');
  const clear = (name: string) => rmSync(flag(name), { force: true });
  let poller: AppProcess;
  const ingressPolicy = `${farm.ns}-ingress-refuses`;

  /** A service whose command check is critical while its flag file exists. */
  const flagService = (name: string, application: string) => ({
    name,
    applications: [application],
    check: { kind: 'command', command: '/bin/sh', args: ['-c', `if [ -e '${flag(name)}' ]; then echo "CRITICAL: ${name} flagged"; exit 2; fi; echo "OK: ${name}"`] },
  });

  const server = () => poller.get<ServerView>(`/v1/servers/${serverId}`);
  const pollerHealth = async (): Promise<PollerHealth | undefined> => {
    const r = await fetch(`${poller.url}/v1/health`).catch(() => undefined);
    return r ? ((await r.json()) as PollerHealth) : undefined;
  };
  const outbox = async (): Promise<Outboxed[]> => {
    const raw = await farm.redis.get(monitoringKeys(farm.ns).pollerHealth);
    return raw ? (JSON.parse(raw) as { outbox: Outboxed[] }).outbox : [];
  };
  const entryOn = async (target: string) => (await farm.snapshot('n1')).entries.find((e) => e.target === target) as (Outboxed & { source?: string }) | undefined;
  const fromMonitorOn = (target: string) => (line: string): boolean => line.includes(`|${target}|`) && line.includes('"source":"monitor"');
  const monitorAudit = async (target: string): Promise<string[]> => (await farm.redis.lrange(`${farm.ns}:node:n1:audit`, 0, -1)).filter(fromMonitorOn(target));
  /** The node's audit lines for the monitor's notifications on `target`, once there are at least `n` (see TestFarm.auditLines). */
  const auditedAtLeast = (target: string, n: number) => farm.auditLines('n1', fromMonitorOn(target), n, `${n} audit line(s) for ${target}`);

  /** Waits until the server answers polls with no deficiency at all and is back on the normal list. */
  const settledNormal = (what: string, timeoutMs = BROKER_BACK_MS) =>
    waitFor(what, async () => {
      const s = await server().catch(() => undefined);
      return s && s.list === 'normal' && s.deficiencies.length === 0 ? s : undefined;
    }, timeoutMs, 100);

  /** Starts the poller process again without waiting for its broker link (the broker may be away). */
  const restartPoller = async (): Promise<void> => {
    await poller.start();
    await waitFor('the restarted poller is active', async () => (await pollerHealth())?.role === 'active', 30_000, 100);
  };

  beforeAll(async () => {
    assertLocalBroker(); // fails every test here, with the reason, on a broker this suite does not own
    await farm.startNode('n1');
    await farm.startAttendant(serverId, {
      checkTimeoutMs: 2000,
      probes: { login: { enabled: false }, refresh: { enabled: false } },
      services: [flagService('flag-restart', 'app-restart'), flagService('flag-kill', 'app-kill'), flagService('flag-term', 'app-term')],
    });
    poller = await farm.startPoller({
      POLL_INTERVALS_MS: `${NORMAL_MS},${CRITICAL_MS}`, POLL_TICK_MS: '50', POLL_TIMEOUT_MS: String(POLL_TIMEOUT_MS), NOTIFY_AFTER: '2', POLLER_LEASE_MS: '1000',
    });
    await settledNormal('srv-m answering on the normal list', 20_000);
  }, 60_000);

  // A test that failed half-way must not leave its service flagged down for the next one.
  afterEach(() => ['flag-restart', 'flag-kill', 'flag-term'].forEach(clear));

  afterAll(async () => {
    await localBrokerCtl('clear_policy', ingressPolicy).catch(() => undefined);
    await farm.cleanup();
    rmSync(flagDir, { recursive: true, force: true });
  }, 60_000);

  it('a broker restart: the service that failed meanwhile is notified after it, the server is polled back to normal, nothing is lost', async () => {
    const feed = new Feed();
    await feed.open(poller.url, farm.auth());
    let stoppedAt = 0;
    let startingAt = 0;
    let awayMs: number;
    try {
      awayMs = await restartLocalBroker(async () => {
        stoppedAt = Date.now();
        // The service fails while the broker is away: nothing can be polled or published now.
        raise('flag-restart');
        await waitFor('the poller and the attendant lost the broker', async () => {
          const [p, a] = await Promise.all([pollerHealth(), farm.attendants.get(serverId)!.get<{ broker: string }>('/v1/health')]);
          return p?.broker === 'disconnected' && a.broker === 'disconnected';
        }, 20_000, 100);
        startingAt = Date.now();
      });
      const backAt = stoppedAt + awayMs;

      // After the restart: polled again, the failure found, confirmed and published to the repeater.
      const entry = await waitFor('app-restart unavailable on the repeater', async () => {
        const e = await entryOn('app-restart');
        return e && !e.available ? e : undefined;
      }, BROKER_BACK_MS, 100);
      expect(entry).toMatchObject({ source: 'monitor', component: `${serverId}/flag-restart` });
      const down = await server();
      expect(down.list).toBe('critical');
      expect(down.deficiencies).toEqual([expect.objectContaining({ kind: 'service-critical', service: 'flag-restart' })]);
      expect(Date.parse(down.lastAnswerAt!)).toBeGreaterThan(startingAt);

      clear('flag-restart');
      const normal = await settledNormal('srv-m back on the normal list');
      expect(normal.deficiencies).toEqual([]);
      await waitFor('app-restart available again on the repeater', async () => (await entryOn('app-restart'))?.available === true, 15_000, 100);
      // Every poll now gets its answer.
      for (let i = 0; i < 3; i++) {
        const r = await poller.post(`/v1/servers/${serverId}/poll`);
        expect(r.status).toBe(200);
        expect((r.body as ServerView).deficiencies).toEqual([]);
      }

      // Exactly one unavailable and one available notification, published once the broker was coming back.
      const notes = feed.events.filter((e) => e.event === 'notification' && e.data.target === 'app-restart');
      expect(notes.map((e) => e.data.available)).toEqual([false, true]);
      expect(notes[0].at).toBeGreaterThan(startingAt);
      expect(await monitorAudit('app-restart')).toHaveLength(2);
      // A silent attendant is possible only while the broker (and the attendant's queue with it) was away.
      const silent = feed.events.filter((e) => e.event === 'server' && e.data.serverId === serverId && e.data.deficiencies?.some((d) => d.kind === 'unresponsive'));
      for (const e of silent) {
        expect(e.at).toBeGreaterThanOrEqual(stoppedAt);
        expect(e.at).toBeLessThan(backAt + 10_000);
      }
      const last = feed.events.filter((e) => e.event === 'server' && e.data.serverId === serverId).at(-1);
      expect(last?.data).toMatchObject({ list: 'normal', deficiencies: [] });
      expect(await outbox()).toEqual([]);
    } finally {
      clear('flag-restart');
      await feed.close();
    }
  }, TEST_TIMEOUT_MS);

  it('SIGKILL: a notification the ingress refused survives the poller killed while the broker is away, and is delivered once it is back', async () => {
    // Both ingress queues (ordinary and urgent) refuse every message (publisher gets a nack): the poller must keep it.
    await localBrokerCtl('set_policy', '--apply-to', 'queues', '--priority', '100', ingressPolicy, `^${farm.t.ingressQueue.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\.urgent)?$`, '{"max-length":0,"overflow":"reject-publish"}');
    let pending: Outboxed;
    try {
      await waitFor('the ingress refuses', () => withChannel(async (ch) => {
        ch.publish(farm.t.ingressExchange, 'notification', Buffer.from(JSON.stringify({ target: 'policy-check', available: true })), { persistent: true });
        return ch.waitForConfirms().then(() => false, () => true);
      }), 20_000, 200);
      raise('flag-kill');
      pending = await waitFor('the poller decided app-kill and kept it in its outbox in Redis', async () => (await outbox()).find((n) => n.target === 'app-kill'), NORMAL_MS + 4 * CRITICAL_MS + 10_000, 50);
      expect(pending).toMatchObject({ available: false, component: `${serverId}/flag-kill` });
      expect((await pollerHealth())?.outbox).toBe(1);
      await poller.stop('SIGKILL');
    } finally {
      await localBrokerCtl('clear_policy', ingressPolicy);
    }
    expect(await entryOn('app-kill')).toBeUndefined();

    await stopLocalBroker();
    try {
      await restartPoller(); // on the same port, from what Redis holds
      const h = await pollerHealth();
      expect(h).toMatchObject({ broker: 'disconnected', outbox: 1 });
      expect((await outbox()).map((n) => n.id)).toEqual([pending.id]);
    } finally {
      await startLocalBroker();
    }
    const entry = await waitFor('app-kill unavailable on the repeater', async () => {
      const e = await entryOn('app-kill');
      return e && !e.available ? e : undefined;
    }, BROKER_BACK_MS, 100);
    expect(entry.id).toBe(pending.id);
    await waitFor('the outbox emptied', async () => (await outbox()).length === 0, 10_000, 50);
    expect(await auditedAtLeast('app-kill', 1)).toHaveLength(1);

    clear('flag-kill');
    await waitFor('app-kill available again', async () => (await entryOn('app-kill'))?.available === true, BROKER_BACK_MS, 100);
    await settledNormal('srv-m back on the normal list');
    expect(await auditedAtLeast('app-kill', 2)).toHaveLength(2);
  }, TEST_TIMEOUT_MS);

  it('SIGTERM: a notification refused because the ingress exchange is gone survives a graceful restart while the broker is away', async () => {
    await withChannel((ch) => ch.deleteExchange(farm.t.ingressExchange));
    raise('flag-term');
    const pending = await waitFor('the poller decided app-term and kept it in its outbox in Redis', async () => (await outbox()).find((n) => n.target === 'app-term'), NORMAL_MS + 4 * CRITICAL_MS + 10_000, 50);
    expect(pending).toMatchObject({ available: false, component: `${serverId}/flag-term` });

    await stopLocalBroker();
    try {
      await poller.stop('SIGTERM');
      // A graceful stop: the poller released its lease on the way out.
      expect(await farm.redis.get(monitoringKeys(farm.ns).pollerLease)).toBeNull();
      await restartPoller();
      expect(await pollerHealth()).toMatchObject({ broker: 'disconnected', outbox: 1 });
    } finally {
      // Back with the exchange: the poller and the repeater declare it again as they reconnect.
      await startLocalBroker();
    }
    const entry = await waitFor('app-term unavailable on the repeater', async () => {
      const e = await entryOn('app-term');
      return e && !e.available ? e : undefined;
    }, BROKER_BACK_MS, 100);
    expect(entry.id).toBe(pending.id);
    expect(await auditedAtLeast('app-term', 1)).toHaveLength(1);

    clear('flag-term');
    await waitFor('app-term available again', async () => (await entryOn('app-term'))?.available === true, BROKER_BACK_MS, 100);
    await settledNormal('srv-m back on the normal list');
    expect(await outbox()).toEqual([]);
  }, TEST_TIMEOUT_MS);
});
