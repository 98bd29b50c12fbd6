import { TestFarm } from './support/test-farm';
import { monitoringKeys } from '../libs/common/src/contracts/topology';
import { ClockFollower } from '../libs/common/src/monitoring/clock-follower';

/** Starting the notifier may take up to its 20 s readiness wait. */
jest.setTimeout(40_000);

/** The corrected clock the attendant keeps in Redis is the one this server's apps stamp with. */
describe('the shared corrected clock', () => {
  const farm = new TestFarm('clock');

  afterAll(() => farm.cleanup());

  it('a ClockFollower follows the correction in Redis', async () => {
    const f = new ClockFollower(farm.redis, farm.ns, 'srv-1');
    await f.refresh();
    expect(f.clock.correctionMs).toBe(0);
    await farm.redis.set(monitoringKeys(farm.ns).clock('srv-1'), '-2500');
    await f.refresh();
    expect(f.clock.correctionMs).toBe(-2500);
    expect(Math.abs(f.clock.now() - (Date.now() - 2500))).toBeLessThan(50);
  });

  it('the notifier stamps notifications without a timestamp by its server\'s corrected clock', async () => {
    await farm.redis.set(monitoringKeys(farm.ns).clock('srv-notifier'), '60000');
    const notifier = await farm.startNotifier({ SERVER_ID: 'srv-notifier' });
    const before = Date.now();
    const r = await notifier.post('/v1/notifications', { target: 'mail', available: false });
    expect(r.status).toBe(202);
    const stamped = Date.parse((r.body as { timestamp: string }).timestamp);
    expect(stamped - before).toBeGreaterThan(59_000);
    expect(stamped - before).toBeLessThan(61_000);
    // An explicit timestamp is kept as given.
    const given = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000).toISOString();
    const r2 = await notifier.post('/v1/notifications', { target: 'mail', available: true, timestamp: given });
    expect((r2.body as { timestamp: string }).timestamp).toBe(given);
  });
});
