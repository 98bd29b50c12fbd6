import { failoverKeys } from '../libs/common/src/contracts/topology';
import { FailoverClient } from '../libs/common/src/failover/failover-client';
import { AmqpClient } from '../libs/common/src/messaging/amqp-client';
import { CpuHogApp } from '../libs/common/src/testing/cpu-hog-app';
import { FakeApp } from '../libs/common/src/testing/fake-app';
import { AppProcess } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { failoverAttendantConfig, startFailoverClients, stopFailoverSuite } from './support/failover-farm';
import { TestFarm } from './support/test-farm';

jest.setTimeout(90_000);

const IDS = ['h1', 'h2', 'h3'];

type Load = { score: number; zone?: string; components: { name: string; value: number }[]; deferred?: string[] };

/**
 * Load-aware failover with a real CPU hog (issue 12): server a's application is a process of its
 * own whose event loop the test makes burn CPU; a's attendant reads that application's real
 * event-loop utilisation (the meter every farm app uses, through the same load endpoint) and
 * weighs only it. The hog pushes a past failover and its clients move to b; the hog stopped,
 * they are invited back. (The system-wide CPU component is not used: every server here shares
 * one machine, which the test suite itself keeps busy.)
 */
describe('load-aware failover: a real CPU hog in the application moves its clients', () => {
  const farm = new TestFarm('failover-hog');
  const hog = new CpuHogApp();
  const quietB = new FakeApp();
  let a: AppProcess;
  let amqp: AmqpClient;
  let clients: FailoverClient[] = [];
  const loadOfA = () => farm.attendants.get('a')!.get<Load>('/v1/load');

  beforeAll(async () => {
    await Promise.all([hog.start(), quietB.start()]);
    let b: AppProcess;
    [a, b] = await Promise.all([farm.startNode('a'), farm.startNode('b')]);
    const base = failoverAttendantConfig(a, quietB, { setSize: 3, intervalMs: 100 });
    const onHog = { ...base, load: { url: hog.loadUrl }, failover: { ...base.failover, weights: { workers: 0, eventLoop: 1, cpu: 0, memory: 0, processes: 0, peers: 0 } } };
    await Promise.all([
      farm.startAttendant('a', onHog, { LOAD_INTERVAL_MS: '250' }),
      farm.startAttendant('b', failoverAttendantConfig(b, quietB, { setSize: 3, intervalMs: 100 }), { LOAD_INTERVAL_MS: '100' }),
    ]);
    ({ amqp, clients } = await startFailoverClients(farm, a, 'a', IDS));
  }, 90_000);

  afterAll(async () => {
    hog.burn(false);
    await stopFailoverSuite({ clients, amqp, farm, loads: [quietB] });
    await hog.stop();
  });

  it('moves every client off the hogged server with one signed message each, and invites them back once the hog stops', async () => {
    await waitFor('the clients registered at a', async () => (await farm.redis.hlen(failoverKeys(farm.ns).clients('a'))) === IDS.length, 15_000, 50);
    const idle = await waitFor('a measured idle, in accept', async () => {
      const l = await loadOfA();
      return l.zone === 'accept' && l.components.some((c) => c.name === 'eventLoop') ? l : undefined;
    }, 15_000, 100);
    expect(idle.score).toBeLessThan(60);
    hog.burn(true);
    await waitFor('every client moved to b', () => clients.every((c) => c.current.id === 'b'), 20_000, 50);
    const hot = await loadOfA();
    expect(hot.components.find((c) => c.name === 'eventLoop')?.value).toBeGreaterThan(0.8);
    expect(hot.deferred).toEqual(IDS);
    expect(clients.map((c) => c.accepted.failover)).toEqual([1, 1, 1]);
    hog.burn(false);
    await waitFor('every client invited back to a', () => clients.every((c) => c.current.id === 'a'), 20_000, 50);
    expect(clients.map((c) => c.accepted)).toEqual(IDS.map(() => ({ failover: 1, invitation: 1 })));
    expect((await loadOfA()).components.find((c) => c.name === 'eventLoop')?.value).toBeLessThan(0.6);
  });
});
