import { TestFarm } from './support/test-farm';
import { AppProcess } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';

/** Two pollers for availability: one polls, the other stands by and takes over when it dies. */
describe('poller standby and takeover', () => {
  const farm = new TestFarm('poller-ha');
  const LEASE_MS = 1000;
  const env = { POLL_INTERVALS_MS: '600,200', POLL_TICK_MS: '50', POLL_TIMEOUT_MS: '1000', POLLER_LEASE_MS: String(LEASE_MS) };
  let p1: AppProcess;
  let p2: AppProcess;
  const role = async (p: AppProcess) => (await p.get<{ role: string }>('/v1/health')).role;
  const polledAt = async (p: AppProcess) => (await p.get<{ lastPolledAt: string | null }>('/v1/servers/srv-1')).lastPolledAt;

  beforeAll(async () => {
    await farm.startAttendant('srv-1', { probes: { login: { enabled: false }, refresh: { enabled: false } }, services: [{ name: 'redis', check: { kind: 'process', name: 'redis-server' } }] });
    p1 = await new AppProcess({ app: 'poller', name: `${farm.ns}-p1`, env: { ...farm.env(), ...env, POLLER_ID: 'p1' } }).start().then((p) => p.ready());
    await waitFor('p1 active', async () => (await role(p1)) === 'active', 5000);
    p2 = await new AppProcess({ app: 'poller', name: `${farm.ns}-p2`, env: { ...farm.env(), ...env, POLLER_ID: 'p2' } }).start().then((p) => p.ready());
  }, 60_000);

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
    // The attendant answered exactly the queries of one poller: about one per normal interval.
    const metrics = async () => (await fetch(`${farm.attendants.get('srv-1')!.url}/metrics`)).text();
    const before = await metrics();
    await new Promise((r) => setTimeout(r, 1800));
    const after = await metrics();
    const queries = (text: string) => Number(/farm_attendant_requests_total\{op="query"\} (\d+)/.exec(text)?.[1] ?? 0);
    expect(queries(after) - queries(before)).toBeLessThanOrEqual(4);
  });

  it('the standby takes over within the lease when the active poller dies', async () => {
    await p1.stop('SIGKILL');
    const killedAt = Date.now();
    await waitFor('p2 active', async () => (await role(p2)) === 'active', LEASE_MS + 3000, 25);
    expect(Date.now() - killedAt).toBeLessThan(LEASE_MS + 1500);
    const last = await polledAt(p2);
    await waitFor('p2 polls srv-1', async () => (await polledAt(p2)) !== last, 3000);
  });
});
