import { TestFarm } from './support/test-farm';
import { counter, metricsPage } from './support/metrics';
import { AppProcess } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';

jest.setTimeout(30_000);

/** Two pollers for availability: one polls, the other stands by and takes over when it dies. */
describe('poller standby and takeover', () => {
  const farm = new TestFarm('poller-ha');
  const LEASE_MS = 1000;
  const NORMAL_MS = 600;
  const env = { POLL_INTERVALS_MS: `${NORMAL_MS},200`, POLL_TICK_MS: '50', POLL_TIMEOUT_MS: '1000', POLLER_LEASE_MS: String(LEASE_MS) };
  let p1: AppProcess;
  let p2: AppProcess;
  const role = async (p: AppProcess) => (await p.get<{ role: string }>('/v1/health')).role;
  const polledAt = async (p: AppProcess) => (await p.get<{ lastPolledAt: string | null }>('/v1/servers/srv-1')).lastPolledAt;
  /** Polls a poller has made since it started (every outcome). */
  const polls = async (p: AppProcess) => counter(await metricsPage(p), 'farm_poller_polls_total');
  /** Queries the attendant of srv-1 has answered since it started. */
  const queries = async () => counter(await metricsPage(farm.attendants.get('srv-1')!), 'farm_attendant_requests_total', 'op="query"');

  beforeAll(async () => {
    await farm.startAttendant('srv-1', { probes: { login: { enabled: false }, refresh: { enabled: false } }, services: [{ name: 'redis', check: { kind: 'process', name: 'redis-server' } }] });
    p1 = await new AppProcess({ app: 'poller', name: `${farm.ns}-p1`, env: { ...farm.env(), ...env, POLLER_ID: 'p1' }, token: farm.creds.token }).start().then((p) => p.ready());
    await waitFor('p1 active', async () => (await role(p1)) === 'active', 5000);
    p2 = await new AppProcess({ app: 'poller', name: `${farm.ns}-p2`, env: { ...farm.env(), ...env, POLLER_ID: 'p2' }, token: farm.creds.token }).start().then((p) => p.ready());
  }, 90_000); // above the sum of its waits: each start-up may take 20 s

  afterAll(async () => {
    await Promise.all([p1, p2].map((p) => p?.stop('SIGKILL')));
    await farm.cleanup();
  });

  it('only one poller polls; the standby answers reads from what the active one stored', async () => {
    expect(await role(p2)).toBe('standby');
    await waitFor('srv-1 polled', async () => (await polledAt(p1)) !== null, 5000);
    const seen = await p2.get<{ id: string; list: string; lastCompilation: { services: { status: string }[] } }>('/v1/servers/srv-1');
    expect(seen).toMatchObject({ id: 'srv-1', list: 'normal' });
    expect(seen.lastCompilation.services[0].status).toBe('ok');
    const poll = await p2.post('/v1/servers/srv-1/poll');
    expect(poll.status).toBe(409);
    expect(JSON.stringify(poll.body)).toMatch(/standing by; the active poller is p1/);

    // While the active poller polls three more times, the standby sends nothing, and the
    // attendant answers the active poller's queries only (one may be in flight at either edge).
    const [activeBefore, answeredBefore] = [await polls(p1), await queries()];
    await waitFor('p1 polled three more times', async () => (await polls(p1)) >= activeBefore + 3, 3 * NORMAL_MS + 3000);
    const [activeAfter, answeredAfter] = [await polls(p1), await queries()];
    expect(await polls(p2)).toBe(0);
    expect(answeredAfter - answeredBefore).toBeGreaterThanOrEqual(activeAfter - activeBefore - 1);
    expect(answeredAfter - answeredBefore).toBeLessThanOrEqual(activeAfter - activeBefore + 1);
  });

  it('the standby takes over within the lease when the active poller dies', async () => {
    const killedAt = Date.now();
    await p1.stop('SIGKILL');
    await waitFor('p2 active', async () => (await role(p2)) === 'active', LEASE_MS + 3000, 25);
    const took = Date.now() - killedAt;
    // Not before the lease lapsed (p1 renewed it at most one tick before it died), and soon after.
    expect(took).toBeGreaterThanOrEqual(LEASE_MS - 300);
    expect(took).toBeLessThan(LEASE_MS + 500);
    await waitFor('p2 polls srv-1', async () => (await polls(p2)) > 0, NORMAL_MS + 3000);
  });
});
