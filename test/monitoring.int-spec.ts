import { execFile } from 'node:child_process';
import * as net from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';
import * as amqp from 'amqplib';
import { TestFarm, RABBITMQ_URL } from './support/test-farm';
import { AppProcess, REPO_ROOT, freePort } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { holdsFor } from './support/holds-for';
import { counter, metricsPage } from './support/metrics';
import { monitoringKeys } from '../libs/common/src/contracts/topology';
import { EXIT_WITHIN_MS } from './support/exit-within';

/**
 * Attendants and the poller against the real broker and store, with short intervals: two real
 * attendants (one with the standard monitoring plugins as command checks), two repeaters that
 * must apply what the poller raises, and a fake attendant the test itself answers for.
 */

const PLUGINS = '/usr/lib/nagios/plugins';
const NORMAL_MS = 1500;
const CRITICAL_MS = 400;
const TIMEOUT_MS = 1000;
const NOTIFY_AFTER = 2;
/** How long a server with only a warning left is watched to stay critical: three critical polls. */
const WARNING_WATCH_MS = 3 * CRITICAL_MS;

/** The longest test waits about 20 s (a first answer, then a service down and up again). */
jest.setTimeout(60_000);

type ServerView = {
  id: string; lastPolledAt: string | null; list: 'normal' | 'critical'; level: number; failures: number;
  deficiencies: { kind: string; service?: string; detail: string }[];
  clock: { offsetMs: number; corrected?: number } | null;
  lastCompilation?: { services: { name: string; status: string; detail: string }[]; probes: { login: { ok: boolean; detail: string } | null; refresh: { ok: boolean } | null }; loggedIn: boolean; clock: { offsetMinutes: number } } | null;
};
type Lookup = { available: boolean; reason?: string; message?: string; decidedBy?: { id: string } };

/** A TCP "service" the test can stop and start again on the same port. */
class FakeService {
  private server?: net.Server;
  private readonly sockets = new Set<net.Socket>();
  constructor(readonly port: number) {}
  async start(): Promise<void> {
    this.server = net.createServer((s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      s.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, '127.0.0.1', resolve));
  }
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = undefined;
  }
}

describe('monitoring: attendants and the poller', () => {
  const farm = new TestFarm('monitoring');
  let smtp: FakeService;
  let imap: FakeService;
  let poller: AppProcess;

  const server = (id: string) => poller.get<ServerView>(`/v1/servers/${id}`);
  const lookup = (node: string, app: string) => farm.node(node).get<Lookup>(`/v1/availability/${app}`);

  beforeAll(async () => {
    smtp = new FakeService(await freePort());
    imap = new FakeService(await freePort());
    await Promise.all([smtp.start(), imap.start()]);
    await Promise.all([farm.startNode('n1'), farm.startNode('n2')]);
    await farm.startAttendant('srv-a', {
      repeaterUrl: farm.node('n1').url,
      checkTimeoutMs: 500,
      probes: { login: { intervalMs: 1000 }, refresh: { intervalMs: 2000 } },
      services: [
        { name: 'smtp', applications: ['mail'], check: { kind: 'tcp', host: '127.0.0.1', port: smtp.port } },
        { name: 'redis', applications: ['mail', 'web'], check: { kind: 'process', name: 'redis-server' } },
      ],
    });
    // srv-b reports through Debian's standard monitoring plugins, unchanged.
    await farm.startAttendant('srv-b', [
      'checkTimeoutMs: 2000',
      `repeaterUrl: ${farm.node('n2').url}`,
      'probes: { login: { intervalMs: 1000 }, refresh: { intervalMs: 2000 } }',
      'services:',
      '  - name: imap',
      '    applications: [search]',
      `    check: { kind: command, command: ${PLUGINS}/check_tcp, args: ["-H", "127.0.0.1", "-p", "${imap.port}", "-t", "1"] }`,
      '  - name: disk-space',
      '    mandatory: false',
      `    check: { kind: command, command: ${PLUGINS}/check_dummy, args: ["1", "disk 91% full"] }`,
    ].join('\n'));
    poller = await farm.startPoller({
      POLL_INTERVALS_MS: `${NORMAL_MS},${CRITICAL_MS}`, POLL_TICK_MS: '50', POLL_TIMEOUT_MS: String(TIMEOUT_MS), NOTIFY_AFTER: String(NOTIFY_AFTER), CLOCK_MAX_DIFF_MS: '1000',
      POLLER_SERVERS: 'srv-static', POLLER_LEASE_MS: '1000',
    });
  }, 90_000); // above the sum of its waits: each start-up may take 20 s

  afterAll(async () => {
    await farm.cleanup();
    await Promise.all([smtp?.stop(), imap?.stop()]);
  });

  it('finds self-registered attendants and polls each with one query that returns the whole compilation', async () => {
    const a = await waitFor('srv-a answered with probes', async () => {
      const s = await server('srv-a').catch(() => undefined);
      return s?.lastCompilation?.probes.login && s.lastCompilation.probes.refresh ? s : undefined;
    }, 15_000);
    expect(a.list).toBe('normal');
    expect(a.deficiencies).toEqual([]);
    expect(a.lastCompilation!.services.map((s) => [s.name, s.status])).toEqual([['smtp', 'ok'], ['redis', 'ok']]);
    expect(a.lastCompilation!.loggedIn).toBe(true);
    expect(a.lastCompilation!.probes.login!.detail).toMatch(/message read.*guarded route of mail answered 200/);
    expect(a.lastCompilation!.probes.refresh!.ok).toBe(true);
    const list = await poller.get<{ servers: { id: string; list: string }[] }>('/v1/servers');
    expect(list.servers.map((s) => s.id)).toEqual(expect.arrayContaining(['srv-a', 'srv-b']));

    // One query per poll: over the next two polls of srv-a, its attendant answered two queries.
    // (lastPolledAt is set once the answer is in, and polls are NORMAL_MS apart.)
    const answered = async () => counter(await metricsPage(farm.attendants.get('srv-a')!), 'farm_attendant_requests_total');
    const nextPoll = (after: string | null) => waitFor('srv-a polled again', async () => {
      const at = (await server('srv-a')).lastPolledAt;
      return at !== after ? at : undefined;
    }, NORMAL_MS + 3000, 25);
    const start = await nextPoll((await server('srv-a')).lastPolledAt);
    const before = await answered();
    await nextPoll(await nextPoll(start));
    expect(await answered() - before).toBe(2);

    // The same through the CLI.
    const farmctl = (...args: string[]) => promisify(execFile)(process.execPath, [join(REPO_ROOT, 'bin', 'farmctl.js'), ...args, '--poller', poller.url], { env: { ...process.env, FARM_TOKEN: farm.creds.token } });
    // SERVER LIST LOAD NEXT-POLL DEFICIENCIES: srv-a measures its load (no failover section: a score, no zone).
    expect((await farmctl('servers')).stdout).toMatch(/^srv-a\s+normal\s+\d+(\.\d+)?\s+\S+\s+-$/m);
    const one = (await farmctl('servers', '--server', 'srv-a', '--poll')).stdout;
    expect(one).toMatch(/^srv-a: normal list/);
    expect(one).toMatch(/smtp\s+ok\s+connected to 127\.0\.0\.1/);
  });

  it('polls a server of the static list too, even one that never registered', async () => {
    const s = await waitFor('srv-static polled', async () => {
      const v = await server('srv-static').catch(() => undefined);
      return v?.lastPolledAt ? v : undefined;
    }, TIMEOUT_MS + 3000);
    expect(s.deficiencies).toEqual([expect.objectContaining({ kind: 'unresponsive' })]);
    expect(s.list).toBe('critical');
  });

  it('runs the standard plugins as command checks; a warning stays on the normal list', async () => {
    const b = await waitFor('srv-b answered', async () => {
      const s = await server('srv-b').catch(() => undefined);
      return s?.lastCompilation ? s : undefined;
    }, 15_000);
    const services = Object.fromEntries(b.lastCompilation!.services.map((s) => [s.name, s]));
    expect(services.imap.status).toBe('ok');
    expect(services.imap.detail).toMatch(/^TCP OK/);
    expect(services['disk-space']).toMatchObject({ status: 'warning', detail: 'WARNING: disk 91% full' });
    expect(b.deficiencies.map((d) => d.kind)).toEqual(['service-warning']);
    expect(b.list).toBe('normal');

    await imap.stop();
    const down = await waitFor('check_tcp reports imap critical', async () => {
      const s = await server('srv-b');
      return s.deficiencies.some((d) => d.kind === 'service-critical') ? s : undefined;
    }, NORMAL_MS + 4 * CRITICAL_MS + 3000);
    expect(down.list).toBe('critical');
    expect(down.deficiencies.find((d) => d.service === 'imap')!.detail).toMatch(/Connection refused/i);
    await imap.start();
    const recovered = await waitFor('check_tcp reports imap ok again', async () => {
      const s = await server('srv-b');
      return s.deficiencies.some((d) => d.kind === 'service-critical') ? undefined : s;
    }, 4 * CRITICAL_MS + 3000);
    // The warning is a deficiency too: the server stays critical until every deficiency clears,
    // over the next critical polls as well.
    expect(recovered.deficiencies.map((d) => d.kind)).toEqual(['service-warning']);
    expect(recovered.list).toBe('critical');
    await holdsFor('srv-b critical with its warning', async () => {
      const s = await server('srv-b');
      return s.list === 'critical' && s.deficiencies.map((d) => d.kind).join() === 'service-warning';
    }, WARNING_WATCH_MS);
    expect(Date.parse((await server('srv-b')).lastPolledAt!)).toBeGreaterThan(Date.parse(recovered.lastPolledAt!));
  });

  it('a stopped service moves its server to critical and makes the application unavailable on every repeater; restored, both return', async () => {
    await smtp.stop();
    const stoppedAt = Date.now();
    const critical = await waitFor('srv-a critical', async () => ((await server('srv-a')).list === 'critical' ? Date.now() : undefined), NORMAL_MS + CRITICAL_MS + 2000, 25);
    // Found by the next poll (at most one normal interval), then polled at the critical interval.
    expect(critical - stoppedAt).toBeLessThan(NORMAL_MS + CRITICAL_MS + 1000);
    const s = await server('srv-a');
    expect(s.deficiencies).toEqual([expect.objectContaining({ kind: 'service-critical', service: 'smtp', detail: expect.stringMatching(/refused/) })]);

    for (const node of ['n1', 'n2']) {
      const l = await waitFor(`mail unavailable on ${node}`, async () => {
        const r = await lookup(node, 'mail');
        return r.available ? undefined : r;
      }, NOTIFY_AFTER * CRITICAL_MS + 3000);
      expect(l.reason).toBe('outage');
      expect(l.message).toMatch(/srv-a: smtp/);
    }
    const entry = (await farm.snapshot('n1')).entries.find((e) => e.target === 'mail') as unknown as Record<string, unknown>;
    expect(entry).toMatchObject({ source: 'monitor', component: 'srv-a/smtp', available: false });
    expect((await lookup('n1', 'web')).available).toBe(true);

    // The lists live in Redis: a restarted poller still has srv-a on the critical list.
    await poller.stop('SIGKILL');
    poller = await farm.startPoller();
    expect((await server('srv-a')).list).toBe('critical');

    await smtp.start();
    await waitFor('srv-a back on the normal list', async () => (await server('srv-a')).list === 'normal', NOTIFY_AFTER * CRITICAL_MS + 3000);
    for (const node of ['n1', 'n2']) await waitFor(`mail available on ${node}`, async () => (await lookup(node, 'mail')).available, NOTIFY_AFTER * NORMAL_MS + 3000);
    // Exactly one unavailable and one available notification for mail reached the repeaters' audit.
    const mail = await farm.auditLines('n1', (line) => line.includes('|mail|') && line.includes('"source":"monitor"'), 2, 'two audit lines for mail');
    expect(mail).toHaveLength(2);
  });

  it('pushes list changes as server-sent events', async () => {
    const res = await fetch(`${poller.url}/v1/events`, { headers: farm.auth() });
    const reader = res.body!.getReader();
    const got = (async () => {
      let text = '';
      while (!/"list":"critical"[\s\S]*"list":"normal"/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += Buffer.from(value).toString('utf8');
      }
      return text;
    })();
    await smtp.stop();
    await waitFor('srv-a critical', async () => (await server('srv-a')).list === 'critical', NORMAL_MS + CRITICAL_MS + 3000);
    await smtp.start();
    const text = await Promise.race([got, new Promise<string>((_, reject) => setTimeout(() => reject(new Error('no SSE events')), NORMAL_MS + 6000))]);
    await reader.cancel();
    expect(text).toMatch(/event: server\nid: \d+\ndata: \{"serverId":"srv-a","list":"critical"/);
    expect(text).toMatch(/event: server\nid: \d+\ndata: \{"serverId":"srv-a","list":"normal"/);
  });

  it('an attendant that was killed becomes unresponsive, and comes back', async () => {
    await farm.attendants.get('srv-b')!.stop('SIGKILL');
    const s = await waitFor('srv-b unresponsive', async () => {
      const v = await server('srv-b');
      return v.deficiencies.some((d) => d.kind === 'unresponsive') ? v : undefined;
    }, NORMAL_MS + CRITICAL_MS + TIMEOUT_MS + 3000);
    expect(s.list).toBe('critical');
    expect(s.deficiencies[0].detail).toMatch(/no reply/);
    await farm.startAttendant('srv-b');
    await waitFor('srv-b answering again', async () => !(await server('srv-b')).deficiencies.some((d) => d.kind === 'unresponsive'), CRITICAL_MS * 4 + TIMEOUT_MS + 3000);
  });

  it('corrects an attendant started with a 5 s clock error, in another time zone', async () => {
    const c = await farm.startAttendant('srv-clock', { probes: { login: { enabled: false }, refresh: { enabled: false } } }, { CLOCK_SKEW_MS: '5000', TZ: 'Asia/Kolkata' });
    // (The poller may have corrected it already: it polls a newly registered server at once.)
    expect((await c.get<{ offsetMinutes: number }>('/v1/clock')).offsetMinutes).toBe(330);
    const s = await waitFor('srv-clock corrected', async () => {
      const v = await server('srv-clock').catch(() => undefined);
      return v?.clock?.corrected !== undefined ? v : undefined;
    }, NORMAL_MS + 5000);
    expect(s.clock!.corrected!).toBeGreaterThan(-5300);
    expect(s.clock!.corrected!).toBeLessThan(-4700);
    const after = await c.get<{ epochMs: number; correctionMs: number }>('/v1/clock');
    expect(Math.abs(after.epochMs - Date.now())).toBeLessThan(300);
    expect(Number(await farm.redis.get(monitoringKeys(farm.ns).clock('srv-clock')))).toBe(after.correctionMs);
    // The next poll finds the clock within bounds: no set-clock again.
    await poller.post('/v1/servers/srv-clock/poll');
    const next = await server('srv-clock');
    expect(next.clock!.corrected).toBeUndefined();
    expect(Math.abs(next.clock!.offsetMs)).toBeLessThan(300);
    expect(next.deficiencies).toEqual([]);
  });

  it('a malformed reply is a bad-reply deficiency with a clear message, and the poller carries on', async () => {
    const conn = await amqp.connect(RABBITMQ_URL());
    conn.on('error', () => undefined);
    const ch = await conn.createChannel();
    const queue = farm.t.attendantQueue('srv-fake');
    await ch.assertQueue(queue, { durable: false, exclusive: true, autoDelete: true });
    let reply = Buffer.from(JSON.stringify({ serverId: 'srv-fake', version: 1, services: [] }));
    await ch.consume(queue, (m) => {
      if (!m) return;
      ch.sendToQueue(m.properties.replyTo as string, reply, { correlationId: m.properties.correlationId as string });
      ch.ack(m);
    });
    await farm.redis.hset(monitoringKeys(farm.ns).attendants, 'srv-fake', JSON.stringify({ serverId: 'srv-fake' }));
    try {
      const r1 = await waitFor('srv-fake polled', async () => {
        const res = await poller.post('/v1/servers/srv-fake/poll');
        return res.status === 200 ? (res.body as ServerView) : undefined;
      }, 5000);
      expect(r1.list).toBe('critical');
      expect(r1.deficiencies).toEqual([expect.objectContaining({ kind: 'bad-reply', detail: 'reply is not a valid compilation: missing clock, probes, loggedIn, deficiencies, compiledInMs' })]);
      reply = Buffer.from('this is not json');
      const r2 = (await poller.post('/v1/servers/srv-fake/poll')).body as ServerView;
      expect(r2.deficiencies[0]).toMatchObject({ kind: 'bad-reply', detail: expect.stringMatching(/^reply is not JSON/) });
      const r3 = await poller.post('/v1/servers/nobody/poll');
      expect(r3.status).toBe(404);
      const health = await fetch(`${poller.url}/v1/health`);
      expect(health.status).toBe(200);
      expect(poller.proc!.exitCode).toBeNull();
    } finally {
      await conn.close();
      await fetch(`${poller.url}/v1/servers/srv-fake`, { method: 'DELETE', headers: farm.auth() });
    }
  });

  it('a configuration file with errors stops the attendant with every problem listed', async () => {
    const bad = await farm.startAttendant('srv-bad', {
      services: [
        { name: 'smtp', check: { kind: 'tcp', host: '127.0.0.1', port: 70000 } },
        { name: 'web', check: { kind: 'http', url: 'ftp://x', port: 80 } },
        { name: 'smtp', check: { kind: 'telnet' } },
      ],
    }, {}, false);
    await waitFor('attendant exited', async () => bad.exits.length > 0, EXIT_WITHIN_MS);
    expect(bad.exits).toEqual([78]);
    const { readFileSync } = await import('node:fs');
    const log = readFileSync(bad.logFile, 'utf8');
    expect(log).toMatch(/invalid ATTENDANT_CONFIG/);
    expect(log).toMatch(/services\[0\]\.check\.port/);
    expect(log).toMatch(/services\[1\]\.check\.url/);
    expect(log).toMatch(/services\[1\]\.check\.port/);
    expect(log).toMatch(/services\[2\]/);
    expect(log).not.toMatch(/at .*\.js:\d+/); // a message, not a stack trace

    const noId = new AppProcess({ app: 'attendant', name: `${farm.ns}-no-id`, env: { ...farm.env(), ATTENDANT_CONFIG: bad.opts.env.ATTENDANT_CONFIG } });
    await noId.start();
    await waitFor('attendant without SERVER_ID exited', async () => noId.exits.length > 0, EXIT_WITHIN_MS);
    expect(noId.exits).toEqual([78]);
    expect(readFileSync(noId.logFile, 'utf8')).toMatch(/SERVER_ID is required/);
  }, 2 * EXIT_WITHIN_MS + 10_000);
});
