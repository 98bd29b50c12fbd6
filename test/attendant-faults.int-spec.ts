import { ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import Redis from 'ioredis';
import { mailboxQueue, monitoringKeys } from '../libs/common/src/contracts/topology';
import { AppProcess, freePort } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { assertLocalBroker, localBrokerCtl } from './support/local-broker';
import { TestFarm } from './support/test-farm';

/**
 * The attendant's synthetic user (probe A: log in to the mailbox with the probe's own broker
 * account, see a new message arrive, read it, read the repeater's guarded route; probe B: the
 * repeater's `POST /v1/sync`) when things go wrong for real: the probe's account refused, its
 * session dropped by the broker, a mailbox that loses messages or is gone, a read the broker
 * refuses, a repeater that is down. Each failure must be reported in the compilation, a failed
 * login probe must log off, and the next run must log in again.
 *
 * The probe gets its own broker user (created for the suite with rabbitmqctl, allowed only its
 * mailbox, deleted afterwards), so this suite needs the documented local broker.
 */

type Report = { ok: boolean; at: string; durationMs: number; detail: string };
type CompilationView = {
  loggedIn: boolean;
  probes: { login: Report | null; refresh: Report | null };
  deficiencies: { kind: string; service?: string; detail: string }[];
};

const HOUR_MS = 3_600_000;
const TEST_TIMEOUT_MS = 90_000;

describe('attendant: probe failure paths against the real broker and repeater', () => {
  const farm = new TestFarm('attendant-faults');
  const serverId = 'srv-probe';
  const mailbox = mailboxQueue(farm.ns, serverId);
  const probeUser = `${farm.ns}-probe`;
  const password = randomBytes(12).toString('hex');
  const mailboxOnly = `^${mailbox.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`;
  let userCreated = false;
  let attendant: AppProcess;

  const compilation = () => attendant.get<CompilationView>('/v1/compilation');
  const runLogin = async (): Promise<Report> => (await attendant.post('/v1/probes/login')).body as Report;
  const runRefresh = async (): Promise<Report | null> => (await attendant.post('/v1/probes/refresh')).body as Report | null;
  const mailboxCount = async (): Promise<number> => (await (await farm.channel()).checkQueue(mailbox)).messageCount;

  /** The broker-side connections of the probe's user. */
  const probeConnections = async (): Promise<string[]> => {
    const out = await localBrokerCtl('list_connections', '-q', '--no-table-headers', 'pid', 'user');
    return out.split('\n').map((l) => l.split('\t')).filter(([pid, user]) => pid && user === probeUser).map(([pid]) => pid);
  };

  /** The broker closes the probe's session, as an administrator or a broker-side limit would. */
  const dropProbeSession = async (): Promise<void> => {
    const pids = await waitFor('the probe connected to the broker', async () => {
      const p = await probeConnections();
      return p.length ? p : undefined;
    }, 15_000, 200);
    for (const pid of pids) await localBrokerCtl('close_connection', pid, 'closed by the attendant-faults test');
    await waitFor('the attendant noticed it is logged off', async () => !(await compilation()).loggedIn, 10_000, 50);
  };

  const allowProbe = (read = mailboxOnly) => localBrokerCtl('set_permissions', probeUser, mailboxOnly, mailboxOnly, read);

  beforeAll(async () => {
    assertLocalBroker();
    await localBrokerCtl('add_user', probeUser, password);
    userCreated = true;
    await allowProbe();
    await farm.startNode('n1');
    attendant = await farm.startAttendant(serverId, {
      repeaterUrl: farm.node('n1').url,
      probes: { login: { intervalMs: HOUR_MS }, refresh: { intervalMs: HOUR_MS } },
      services: [{ name: 'web-server', applications: ['web'], check: { kind: 'process', name: 'node' } }],
    }, { PROBE_RABBITMQ_URL: `amqp://${encodeURIComponent(probeUser)}:${password}@127.0.0.1:5672` });
    // The run at boot; every later run in this suite is started by the test (the interval is an hour).
    await waitFor('the first login probe reported', async () => (await compilation()).probes.login, 20_000, 100);
  }, 60_000);

  afterAll(async () => {
    await farm.cleanup();
    if (userCreated) await localBrokerCtl('delete_user', probeUser).catch(() => undefined);
    await localBrokerCtl('clear_policy', `${farm.ns}-mailbox`).catch(() => undefined);
  }, 60_000);

  it('a healthy probe logs in with its own account, reads its new message and the guarded route; refresh works', async () => {
    const boot = (await compilation()).probes.login!;
    expect(boot).toMatchObject({ ok: true, detail: expect.stringMatching(/^logged in, \d+ new, message read, guarded route of web answered 200$/) });
    expect(await probeConnections()).toHaveLength(1);
    const again = await runLogin();
    // Still logged in: no new login, the same session.
    expect(again).toMatchObject({ ok: true, detail: expect.stringMatching(/^\d+ new, message read, guarded route of web answered 200$/) });
    expect(await runRefresh()).toMatchObject({ ok: true, detail: 'POST /v1/sync answered 200' });
    const c = await compilation();
    expect(c.loggedIn).toBe(true);
    expect(c.deficiencies).toEqual([]);
    expect(await mailboxCount()).toBe(0);
  }, TEST_TIMEOUT_MS);

  it('a login the broker refuses is reported and ends that run: nothing is delivered or read, refresh is not tried', async () => {
    const refreshBefore = (await compilation()).probes.refresh;
    await localBrokerCtl('change_password', probeUser, `${password}-changed`);
    await dropProbeSession();
    const failed = await runLogin();
    expect(failed.ok).toBe(false);
    expect(failed.detail).toMatch(/^logging in failed: .*ACCESS.REFUSED.*; logged off$/);
    expect(failed.detail).not.toMatch(/new|message read|guarded route/);
    // The run ended at the login: no probe message was delivered to the mailbox.
    expect(await mailboxCount()).toBe(0);
    const c = await compilation();
    expect(c.loggedIn).toBe(false);
    expect(c.probes.login).toEqual(failed);
    expect(c.deficiencies).toEqual([expect.objectContaining({ kind: 'login-probe', service: 'login-probe', detail: failed.detail })]);
    // Probe B runs only while logged in.
    expect(await runRefresh()).toEqual(refreshBefore);

    await localBrokerCtl('change_password', probeUser, password);
    const back = await runLogin();
    expect(back).toMatchObject({ ok: true, detail: expect.stringMatching(/^logged in, /) });
    expect((await compilation()).deficiencies).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('a mailbox that loses the new message is reported, logs off, and the next run logs in again', async () => {
    // The broker keeps no message in the mailbox (max-length 0 drops every one at once).
    await localBrokerCtl('set_policy', '--apply-to', 'queues', '--priority', '100', `${farm.ns}-mailbox`, mailboxOnly, '{"max-length":0}');
    try {
      const failed = await waitFor('the mailbox lost the probe message', async () => {
        const r = await runLogin();
        return r.ok ? undefined : r; // (until the policy has reached the queue)
      }, 20_000, 200);
      expect(failed.detail).toMatch(/^(logged in; then )?no new message arrived in the mailbox; logged off$/);
      const c = await compilation();
      expect(c.loggedIn).toBe(false);
      expect(c.deficiencies).toEqual([expect.objectContaining({ kind: 'login-probe', detail: failed.detail })]);
      await waitFor('the probe session closed on the broker', async () => (await probeConnections()).length === 0, 10_000, 200);
    } finally {
      await localBrokerCtl('clear_policy', `${farm.ns}-mailbox`);
    }
    const back = await waitFor('the mailbox delivers again', async () => {
      const r = await runLogin();
      return r.ok ? r : undefined;
    }, 20_000, 200);
    expect(back.detail).toMatch(/^logged in, 1 new, message read, guarded route of web answered 200$/);
    expect((await compilation()).loggedIn).toBe(true);
  }, TEST_TIMEOUT_MS);

  it('a mailbox that is gone is reported and logs off; once it is back the next run logs in and succeeds', async () => {
    const ch = await farm.channel();
    await ch.deleteQueue(mailbox);
    const failed = await runLogin();
    expect(failed.ok).toBe(false);
    expect(failed.detail).toMatch(/^checking the mailbox failed: .*NOT.FOUND.*; logged off$/);
    expect((await compilation()).loggedIn).toBe(false);
    // Still gone: the next run logs in again and reports the same failure.
    const again = await runLogin();
    expect(again).toMatchObject({ ok: false, detail: expect.stringMatching(/^logged in; then checking the mailbox failed: .*NOT.FOUND.*; logged off$/) });

    await ch.assertQueue(mailbox, { durable: true, arguments: { 'x-max-length': 100 } });
    const back = await runLogin();
    expect(back).toMatchObject({ ok: true, detail: expect.stringMatching(/^logged in, 1 new, message read, /) });
    expect((await compilation()).deficiencies).toEqual([]);
  }, TEST_TIMEOUT_MS);

  it('a read the broker refuses is reported with the broker\'s reason, logs off, and the next run logs in again', async () => {
    await allowProbe('^$'); // no read permission: basic.get is refused
    await dropProbeSession(); // permissions are checked afresh by a new session
    try {
      const failed = await runLogin();
      expect(failed.ok).toBe(false);
      expect(failed.detail).toMatch(/^logged in, 1 new; then reading the mailbox failed: 403 ACCESS_REFUSED - .*access to queue .*refused.*; logged off$/);
      const c = await compilation();
      expect(c.loggedIn).toBe(false);
      expect(c.deficiencies).toEqual([expect.objectContaining({ kind: 'login-probe', detail: failed.detail })]);
    } finally {
      await allowProbe();
    }
    const back = await runLogin();
    // The message the refused run left behind is discarded; its own new one is read.
    expect(back).toMatchObject({ ok: true, detail: expect.stringMatching(/^logged in, 2 new, message read, guarded route of web answered 200$/) });
    expect(await mailboxCount()).toBe(0);
  }, TEST_TIMEOUT_MS);

  it('a repeater that is down fails the refresh probe and the guarded-route step; both recover once it is back', async () => {
    expect(await runLogin()).toMatchObject({ ok: true });
    expect((await compilation()).loggedIn).toBe(true);
    const n1 = farm.node('n1');
    await n1.stop('SIGKILL');
    const refresh = await runRefresh();
    expect(refresh).toMatchObject({ ok: false, detail: expect.stringMatching(/^POST \/v1\/sync failed: ECONNREFUSED$/) });
    let c = await compilation();
    expect(c.deficiencies).toEqual([expect.objectContaining({ kind: 'refresh-probe', service: 'refresh-probe', detail: refresh!.detail })]);

    const login = await runLogin();
    expect(login).toMatchObject({ ok: false, detail: expect.stringMatching(/^1 new, message read; then guarded route http:\/\/127\.0\.0\.1:\d+\/apps\/web\/probe failed: ECONNREFUSED; logged off$/) });
    c = await compilation();
    expect(c.loggedIn).toBe(false);
    expect(c.deficiencies.map((d) => d.kind).sort()).toEqual(['login-probe', 'refresh-probe']);
    // Logged off: probe B waits for the next successful login.
    expect(await runRefresh()).toEqual(refresh);

    await farm.startNode('n1');
    expect(await runLogin()).toMatchObject({ ok: true, detail: expect.stringMatching(/^logged in, 1 new, message read, guarded route of web answered 200$/) });
    expect(await runRefresh()).toMatchObject({ ok: true, detail: 'POST /v1/sync answered 200' });
    c = await compilation();
    expect(c.loggedIn).toBe(true);
    expect(c.deficiencies).toEqual([]);
  }, TEST_TIMEOUT_MS);
});

/** A redis-server of the test's own, on a free port, without persistence: stopping it loses everything. */
class OwnRedis {
  private proc?: ChildProcess;
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const proc = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no'], { stdio: 'ignore' });
    this.proc = proc;
    const probe = new Redis(this.url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    try {
      await waitFor(`redis-server on ${this.port}`, async () => (await probe.connect().then(() => probe.ping(), () => undefined)) === 'PONG', 10_000, 100);
    } finally {
      probe.disconnect();
    }
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    p.kill('SIGKILL');
    await exited;
  }
}

describe('attendant: its Redis going away and coming back empty', () => {
  const farm = new TestFarm('attendant-redis');
  const serverId = 'srv-redis';
  let own: OwnRedis;
  let reader: Redis;
  let attendant: AppProcess;

  const registration = () => reader.hget(monitoringKeys(farm.ns).attendants, serverId);
  const health = async () => {
    const r = await fetch(`${attendant.url}/v1/health`);
    return { status: r.status, body: (await r.json()) as { redis: string; broker: string; loggedIn: boolean } };
  };

  beforeAll(async () => {
    own = new OwnRedis(await freePort());
    await own.start();
    reader = new Redis(own.url, { maxRetriesPerRequest: null });
    reader.on('error', () => undefined);
    attendant = await farm.startAttendant(serverId, {
      probes: { login: { intervalMs: HOUR_MS }, refresh: { enabled: false } },
      services: [{ name: 'web-server', applications: ['web'], check: { kind: 'process', name: 'node' } }],
    }, { REDIS_URL: own.url, REGISTER_INTERVAL_MS: '300' });
  }, 60_000);

  afterAll(async () => {
    await farm.cleanup();
    reader?.disconnect();
    await own?.stop();
  }, 60_000);

  it('keeps answering and probing while its Redis is away, says degraded, and registers again once Redis is back empty', async () => {
    await waitFor('registered in its Redis', registration, 10_000, 50);
    await waitFor('the first login probe reported', async () => (await attendant.get<CompilationView>('/v1/compilation')).probes.login?.ok, 20_000, 100);

    await own.stop();
    const degraded = await waitFor('the attendant says its Redis is away', async () => {
      const h = await health();
      return h.status === 503 ? h : undefined;
    }, 10_000, 50);
    expect(degraded.body).toMatchObject({ broker: 'connected', loggedIn: true });
    expect(degraded.body.redis).not.toBe('ready');
    // The compilation needs no Redis: it still answers at once, and so does the probe.
    const t0 = Date.now();
    const c = await attendant.get<CompilationView & { services: { name: string; status: string }[] }>('/v1/compilation');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(c.services).toEqual([expect.objectContaining({ name: 'web-server', status: 'ok' })]);
    expect(c.deficiencies).toEqual([]);
    expect((await attendant.post('/v1/probes/login')).body).toMatchObject({ ok: true });

    await own.start(); // the same port, empty: the registration is gone
    await waitFor('registered again in the new Redis', registration, 10_000, 50);
    await waitFor('healthy again', async () => (await health()).status === 200, 10_000, 50);
    expect(attendant.proc!.exitCode).toBeNull();
  }, TEST_TIMEOUT_MS);
});
