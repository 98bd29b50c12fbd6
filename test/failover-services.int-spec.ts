import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring } from '../libs/common/src/auth/keyring';
import { failoverKeys } from '../libs/common/src/contracts/topology';
import { FailoverClient } from '../libs/common/src/failover/failover-client';
import { AmqpClient } from '../libs/common/src/messaging/amqp-client';
import { FakeApp } from '../libs/common/src/testing/fake-app';
import { AppProcess } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { QUIET, failoverAttendantConfig, startFailoverClients, stopFailoverSuite } from './support/failover-farm';
import { TestFarm } from './support/test-farm';

jest.setTimeout(90_000);

const IDS = ['m1', 'm2', 'm3'];
const SAMPLE_MS = 3000;

/**
 * A mandatory service down (issue 12): server a's attendant checks a mandatory service `db` (up
 * while a flag file exists) and, by load, would defer one client per sample (`count: 1`), a
 * sample every 3 s. When `db` stops, every client is told to move in the same sample, with the
 * service named as the reason, and a new client is refused; when it is back, they are invited
 * back.
 */
describe('load-aware failover: a mandatory service down defers every client and refuses all', () => {
  const farm = new TestFarm('failover-services');
  const loads = { a: new FakeApp(), b: new FakeApp() };
  const dir = mkdtempSync(join(tmpdir(), 'farm-failover-services-'));
  const flag = join(dir, 'db-up');
  let a: AppProcess;
  let amqp: AmqpClient;
  let keyring: Keyring;
  let clients: FailoverClient[] = [];
  const moves: { client: string; to: string; why: string; at: number }[] = [];

  beforeAll(async () => {
    writeFileSync(flag, '');
    await Promise.all([loads.a.start(), loads.b.start()]);
    let b: AppProcess;
    [a, b] = await Promise.all([farm.startNode('a'), farm.startNode('b')]);
    const base = failoverAttendantConfig(a, loads.a, { setSize: 3, intervalMs: 100 });
    const withDb = {
      ...base,
      services: [{ name: 'db', mandatory: true, check: { kind: 'command', command: 'sh', args: ['-c', `test -f ${flag} || exit 2`] } }],
      load: { ...base.load, servicesEveryMs: 200 },
      failover: { ...base.failover, deferral: { by: 'latency', count: 1 } },
    };
    await Promise.all([
      farm.startAttendant('a', withDb, { LOAD_INTERVAL_MS: String(SAMPLE_MS) }),
      farm.startAttendant('b', failoverAttendantConfig(b, loads.b, { setSize: 3, intervalMs: 100 }), { LOAD_INTERVAL_MS: '100' }),
    ]);
    ({ amqp, clients, keyring } = await startFailoverClients(farm, a, 'a', IDS, (c) => c.on('moved', (_from: unknown, to: { id: string }, why: string) => moves.push({ client: c.id, to: to.id, why, at: Date.now() }))));
  }, 90_000);

  afterAll(async () => {
    await stopFailoverSuite({ clients, amqp, farm, loads: [loads.a, loads.b] });
    rmSync(dir, { recursive: true, force: true });
  });

  it('moves every client in one sample, naming the service, refuses a new client, and invites them back once the service is up', async () => {
    await waitFor('the clients registered at a', async () => (await farm.redis.hlen(failoverKeys(farm.ns).clients('a'))) === IDS.length, 15_000, 50);
    await waitFor('b publishes a load in accept', async () => (JSON.parse((await farm.redis.hget(`${farm.ns}:load`, 'b')) ?? '{}') as { zone?: string }).zone === 'accept', 15_000, 50);
    rmSync(flag);
    await waitFor('every client moved to b', () => clients.every((c) => c.current.id === 'b'), 20_000, 50);
    expect(moves.map((m) => `${m.client} ${m.to}`).sort()).toEqual(['m1 b', 'm2 b', 'm3 b']);
    expect(moves.map((m) => m.why)).toEqual(IDS.map(() => 'deferred by a: mandatory-down: db'));
    // One sample, not one client per sample (the load's count: 1 would take two more samples, 6 s).
    const spread = Math.max(...moves.map((m) => m.at)) - Math.min(...moves.map((m) => m.at));
    expect(spread).toBeLessThan(SAMPLE_MS / 2);
    const newcomer = new FailoverClient({ id: 'm9', address: 'client-m9:8080', ns: farm.ns, server: { id: 'b', address: farm.node('b').url }, redis: farm.redis, amqp, log: QUIET, keyring });
    expect(await newcomer.connect({ id: 'a', address: a.url })).toMatchObject({ kind: 'refuse', zone: 'defer' });
    writeFileSync(flag, '');
    await waitFor('every client invited back to a', () => clients.every((c) => c.current.id === 'a'), 20_000, 50);
    expect(clients.map((c) => c.accepted)).toEqual(IDS.map(() => ({ failover: 1, invitation: 1 })));
  });
});
