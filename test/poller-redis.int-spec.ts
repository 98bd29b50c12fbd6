import { TestFarm } from './support/test-farm';
import { TestRedis } from './support/redis-server';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { holdsFor } from './support/holds-for';
import type { AppProcess } from '../libs/common/src/testing/farm-process';

jest.setTimeout(120_000);

type Health = { status: string; degraded?: string };

/** The poller's own Redis refusing writes is trouble: it waits and retries, reports it, never crashes. */
describe('poller with Redis refusing writes', () => {
  let redis: TestRedis;
  let farm: TestFarm;
  let poller: AppProcess;

  const health = async (): Promise<{ status: number; body: Health }> => {
    const r = await fetch(`${poller.url}/v1/health`);
    return { status: r.status, body: (await r.json()) as Health };
  };
  const lastPolled = async (): Promise<number> => Date.parse((await poller.get<{ lastPolledAt: string | null }>('/v1/servers/srv-r')).lastPolledAt ?? '') || 0;

  beforeAll(async () => {
    redis = await new TestRedis(false).start();
    farm = new TestFarm('poller-redis', { REDIS_URL: redis.url });
    await farm.startNode('n1');
    await farm.startAttendant('srv-r', {
      probes: { login: { enabled: false }, refresh: { enabled: false } },
      services: [{ name: 'sh', applications: ['app-r'], check: { kind: 'command', command: '/bin/sh', args: ['-c', 'echo OK'] } }],
    });
    poller = await farm.startPoller({ POLL_INTERVALS_MS: '300,200', POLL_TICK_MS: '50', POLLER_LEASE_MS: '1000' });
    await waitFor('srv-r polled', async () => (await lastPolled().catch(() => 0)) > 0, 30_000, 100);
  }, 90_000);

  afterAll(async () => {
    await farm.cleanup();
    await redis.destroy();
  });

  it('answers 503 degraded redis while writes fail, stays up, and polls again once Redis accepts writes', async () => {
    await redis.refuseWrites();
    await waitFor('poller reports redis degraded', async () => {
      const h = await health();
      return h.status === 503 && h.body.degraded?.split(',').includes('redis');
    }, 20_000, 100);
    // it stays up and degraded through several poll periods of failing writes
    await holdsFor('poller up and reporting redis', async () => poller.proc?.exitCode === null && poller.proc?.signalCode === null && (await health()).status === 503, 2000);
    await redis.acceptWrites();
    await waitFor('poller healthy again', async () => (await health()).status === 200, 20_000, 100);
    const after = Date.now();
    await waitFor('srv-r polled again after the outage', async () => (await lastPolled()) > after, 20_000, 100);
    expect(farm.logLines(/Unhandled|unhandledRejection|UnhandledPromiseRejection/)).toEqual([]);
  });
});
