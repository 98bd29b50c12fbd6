import { LoadReport } from '../libs/common/src/monitoring/compilation';
import { FakeApp } from '../libs/common/src/testing/fake-app';
import { AppProcess, freePort } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { TestFarm } from './support/test-farm';

jest.setTimeout(90_000);

/** Only the application's own busy share counts, unsmoothed: the score is exactly inFlight (of 100). */
const ONLY_WORKERS = { workers: 1, eventLoop: 0, cpu: 0, memory: 0, processes: 0, peers: 0 };

/**
 * The attendant's load measure (issue 12, part 1): sampled from the real repeater and the
 * system, from a fake application for exact thresholds, and forced to the worst by a mandatory
 * service down; the zone follows the thresholds with hysteresis; the poller shows score and zone.
 */
describe('the attendant measures its server\'s load', () => {
  const farm = new TestFarm('load');
  const fake = new FakeApp();
  let real: AppProcess;
  let exact: AppProcess;
  let down: AppProcess;
  let poller: AppProcess;

  const load = (a: AppProcess) => a.get<LoadReport>('/v1/load');
  /** Waits until the attendant's load satisfies `ok`, and returns it. */
  const loadUntil = (a: AppProcess, what: string, ok: (r: LoadReport) => boolean) =>
    waitFor(what, async () => {
      const r = await load(a).catch(() => undefined);
      return r && ok(r) ? r : undefined;
    }, 10_000, 50);

  beforeAll(async () => {
    await fake.start();
    const n1 = await farm.startNode('n1');
    const closed = await freePort();
    const probesOff = { login: { enabled: false }, refresh: { enabled: false } };
    [real, exact, down] = await Promise.all([
      farm.startAttendant('srv-real', { repeaterUrl: n1.url, probes: probesOff, failover: { thresholds: { failover: 80, connection: 60 } } }, { LOAD_INTERVAL_MS: '200' }),
      farm.startAttendant('srv-exact', { probes: probesOff, load: { url: fake.loadUrl }, failover: { thresholds: { failover: 80, connection: 60 }, hysteresis: 5, smoothing: 1, weights: ONLY_WORKERS } }, { LOAD_INTERVAL_MS: '100' }),
      farm.startAttendant('srv-down', {
        probes: probesOff,
        load: { url: fake.loadUrl },
        services: [{ name: 'db', mandatory: true, check: { kind: 'tcp', host: '127.0.0.1', port: closed } }],
        failover: { thresholds: { failover: 80, connection: 60 }, smoothing: 1, weights: ONLY_WORKERS },
      }, { LOAD_INTERVAL_MS: '100' }),
    ]);
  }, 90_000);

  afterAll(async () => {
    await farm.cleanup();
    await fake.stop();
  });

  it('samples the repeater (requests in flight, limit, event loop) and the system (CPU, memory, processes) into one score', async () => {
    const r = await loadUntil(real, 'a sample with the repeater\'s components', (x) => x.components.some((c) => c.name === 'workers'));
    expect(r.components.map((c) => c.name).sort()).toEqual(['cpu', 'eventLoop', 'memory', 'processes', 'workers']);
    for (const c of r.components) {
      expect(c.value).toBeGreaterThanOrEqual(0);
      expect(c.value).toBeLessThanOrEqual(1);
    }
    // The score is the weighted mean of the components: their points add up to it.
    expect(r.components.reduce((s, c) => s + c.points, 0)).toBeCloseTo(r.score, 0);
    expect(r.unmeasured).toEqual([]);
    expect(['accept', 'hold', 'defer']).toContain(r.zone);
    expect(r.arrangement).toBe('hold-middle');
  });

  it('moves through the zones at the thresholds, and back only past the hysteresis margin', async () => {
    const zoneAt = async (inFlight: number) => {
      fake.inFlight = inFlight;
      return loadUntil(exact, `score ${inFlight}`, (r) => r.score === inFlight);
    };
    expect((await zoneAt(50)).zone).toBe('accept');
    expect((await zoneAt(70)).zone).toBe('hold'); // between connection (60) and failover (80): keep clients, refuse new
    expect((await zoneAt(90)).zone).toBe('defer'); // past failover: defer and refuse all
    expect((await zoneAt(77)).zone).toBe('defer'); // below 80, but not by more than the margin (5)
    expect((await zoneAt(74)).zone).toBe('hold');
    expect((await zoneAt(57)).zone).toBe('hold'); // below 60, within the margin
    expect((await zoneAt(54)).zone).toBe('accept');
  });

  it('takes a mandatory service found down by the last compilation as the worst score, whatever the components say', async () => {
    fake.inFlight = 10;
    const before = await loadUntil(down, 'a sample before any compilation', (r) => r.score === 10);
    expect(before.mandatoryDown).toEqual([]);
    const c = await down.get<{ services: { name: string; status: string }[] }>('/v1/compilation');
    expect(c.services).toEqual([expect.objectContaining({ name: 'db', status: 'critical' })]);
    const after = await loadUntil(down, 'the worst score', (r) => r.forcedBy === 'mandatory-down');
    expect(after).toMatchObject({ score: 100, zone: 'defer', mandatoryDown: ['db'] });
    expect(after.components.find((c2) => c2.name === 'workers')?.value).toBe(0.1);
  });

  it('reports the load in the compilation, and the poller shows each server\'s score and zone', async () => {
    // Started only now: before, nothing compiled srv-down's services but the test that asked.
    poller = await farm.startPoller({ POLL_INTERVALS_MS: '500,250', POLL_TICK_MS: '100' });
    fake.inFlight = 65;
    await loadUntil(exact, 'score 65', (r) => r.score === 65);
    // srv-real is polled on its own schedule too: wait for its first load, not only the other two.
    const seen = await waitFor('the poller shows srv-exact at 65, srv-down forced to 100 and a score for srv-real', async () => {
      const list = await poller.get<{ servers: { id: string; load: { score: number; zone: string | null } | null }[] }>('/v1/servers');
      const of = (id: string) => list.servers.find((s) => s.id === id)?.load;
      return of('srv-exact')?.score === 65 && of('srv-down')?.score === 100 && of('srv-real') ? list : undefined;
    }, 15_000, 100);
    const of = (id: string) => seen.servers.find((s) => s.id === id)?.load;
    expect(of('srv-exact')).toMatchObject({ score: 65 });
    expect(['hold', 'accept']).toContain(of('srv-exact')?.zone);
    expect(of('srv-down')).toMatchObject({ zone: 'defer' });
    expect(of('srv-real')).toMatchObject({ score: expect.any(Number) });
  });
});

/** Issue 12, "never routed to a dead server": a node answers where a client may go. */
describe('routing a client to a live server in the accept zone', () => {
  const farm = new TestFarm('route');
  const fake = new FakeApp();
  let n1: AppProcess;
  let n2: AppProcess;

  type Route = { servers: { id: string; address: string; score: number }[] };
  const route = () => n1.get<Route>('/v1/route');
  const routeUntil = (what: string, ok: (r: Route) => boolean) =>
    waitFor(what, async () => {
      const r = await route().catch(() => undefined);
      return r && ok(r) ? r : undefined;
    }, 15_000, 100);

  beforeAll(async () => {
    await fake.start();
    fake.inFlight = 10;
    [n1, n2] = await Promise.all([farm.startNode('n1'), farm.startNode('n2')]);
    const config = { probes: { login: { enabled: false }, refresh: { enabled: false } }, load: { url: fake.loadUrl }, failover: { thresholds: { failover: 80, connection: 60 }, smoothing: 1, weights: ONLY_WORKERS } };
    // n2's attendant, and one for a server that is not in the ring at all.
    await Promise.all([farm.startAttendant('n2', config, { LOAD_INTERVAL_MS: '100' }), farm.startAttendant('ghost', config, { LOAD_INTERVAL_MS: '100' })]);
  }, 90_000);

  afterAll(async () => {
    await farm.cleanup();
    await fake.stop();
  });

  it('offers only servers live in the ring table whose attendant says accept, with the table\'s address', async () => {
    const r = await routeUntil('n2 offered', (x) => x.servers.length > 0);
    expect(r.servers).toEqual([{ id: 'n2', address: n2.url, score: 10 }]);
    expect((await n1.get<Route>('/v1/route?exclude=n2')).servers).toEqual([]);
  });

  it('stops offering a server once its load leaves accept, and offers it again when it is back', async () => {
    fake.inFlight = 90;
    await routeUntil('n2 no longer offered', (x) => x.servers.length === 0);
    fake.inFlight = 10;
    expect((await routeUntil('n2 offered again', (x) => x.servers.length === 1)).servers[0]).toMatchObject({ id: 'n2', score: 10 });
  });

  it('never offers a server that left the ring, though its attendant still says accept', async () => {
    await n2.stop();
    await routeUntil('n2 gone from the offer', (x) => x.servers.length === 0);
    const loads = await farm.redis.hgetall(`${farm.ns}:load`);
    expect(JSON.parse(loads.n2)).toMatchObject({ id: 'n2', zone: 'accept' });
    expect(Date.now() - (JSON.parse(loads.n2) as { at: number }).at).toBeLessThan(5000);
  });
});

/** The other two arrangements of the thresholds (the first describe covers connection < failover). */
describe('the zones of the other two arrangements, on real attendants', () => {
  const farm = new TestFarm('arrangements');
  const fake = new FakeApp();
  let two: AppProcess;
  let brief: AppProcess;
  const zoneOf = async (a: AppProcess, score: number): Promise<LoadReport> =>
    waitFor(`score ${score}`, async () => {
      const r = await a.get<LoadReport>('/v1/load').catch(() => undefined);
      return r && r.score === score ? r : undefined;
    }, 10_000, 50);

  beforeAll(async () => {
    await fake.start();
    const config = (thresholds: object) => ({ probes: { login: { enabled: false }, refresh: { enabled: false } }, load: { url: fake.loadUrl }, failover: { thresholds, hysteresis: 5, smoothing: 1, weights: ONLY_WORKERS } });
    [two, brief] = await Promise.all([
      farm.startAttendant('srv-two', config({ failover: 70, connection: 70 }), { LOAD_INTERVAL_MS: '100' }),
      farm.startAttendant('srv-brief', config({ failover: 80, connection: 90 }), { LOAD_INTERVAL_MS: '100' }),
    ]);
  }, 90_000);

  afterAll(async () => {
    await farm.cleanup();
    await fake.stop();
  });

  it('equal thresholds give two zones (accept, defer); connection worse than failover gives a brief middle zone', async () => {
    const seen: string[] = [];
    for (const score of [40, 75, 85, 95, 40]) {
      fake.inFlight = score;
      const [t, b] = await Promise.all([zoneOf(two, score), zoneOf(brief, score)]);
      seen.push(`${score}: ${t.zone}/${b.zone}`);
    }
    expect(seen).toEqual(['40: accept/accept', '75: defer/accept', '85: defer/brief', '95: defer/defer', '40: accept/accept']);
    expect((await two.get<LoadReport>('/v1/load')).arrangement).toBe('two-zones');
    expect((await brief.get<LoadReport>('/v1/load')).arrangement).toBe('brief-middle');
  });
});
