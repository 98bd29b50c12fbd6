import { BrokerUnavailableError, PeerTimeoutError } from '../domain/errors';
import type { Notification } from '../domain/notification';
import { formatLocal } from './clock';
import type { Compilation, Deficiency, DeficiencyKind } from './compilation';
import { PersistedHealth, Poller, PollerOptions, PollerPorts, describeErrors } from './poller';
import type { ServerRecord } from './escalation';

/** An in-memory world for the engine: scripted attendants, a store and a broker that can fail. */
class World implements PollerPorts {
  time = 1_000_000;
  brokerUp = true;
  publishFails = false;
  /** The broker takes the message, and the poller dies before it learns of the confirm. */
  dieOnPublish = false;
  inFlight = 0;
  maxInFlight = 0;
  published: Notification[] = [];
  records = new Map<string, ServerRecord>();
  health?: PersistedHealth;
  setClocks: { id: string; adjustMs: number }[] = [];
  /** serverId -> failing services, or 'silent', or a raw reply. */
  servers = new Map<string, string[] | 'silent' | Buffer>();
  skew = new Map<string, number>();

  now = (): number => this.time;
  canRequest = (): boolean => this.brokerUp;

  async request(id: string, body: Buffer): Promise<Buffer> {
    if (!this.brokerUp) throw new BrokerUnavailableError('down');
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setImmediate(r));
    this.inFlight--;
    const req = JSON.parse(body.toString()) as { op: string; adjustMs?: number };
    const s = this.servers.get(id);
    if (s === undefined || s === 'silent') throw new PeerTimeoutError(`no reply from ${id} within 1000 ms`);
    if (Buffer.isBuffer(s)) return s;
    const skew = this.skew.get(id) ?? 0;
    if (req.op === 'set-clock') {
      this.setClocks.push({ id, adjustMs: req.adjustMs! });
      this.skew.set(id, skew + req.adjustMs!);
      return Buffer.from(JSON.stringify({ ok: true, serverId: id, correctionMs: req.adjustMs, clock: { local: formatLocal(this.time, 0), epochMs: this.time, offsetMinutes: 0, correctionMs: 0 } }));
    }
    return Buffer.from(JSON.stringify(compilation(id, s, this.time + skew)));
  }

  async saveRecord(r: ServerRecord): Promise<void> {
    this.records.set(r.id, r);
  }
  async deleteRecord(id: string): Promise<void> {
    this.records.delete(id);
  }
  async saveHealth(h: PersistedHealth): Promise<void> {
    this.health = h;
  }
  async publish(n: Notification): Promise<void> {
    if (this.publishFails) throw new BrokerUnavailableError('not confirmed');
    this.published.push(n);
    if (this.dieOnPublish) await new Promise<never>(() => undefined);
  }
}

function compilation(id: string, failing: string[], epochMs: number): Compilation {
  const services = ['smtp', 'imap'].map((name) => ({ name, kind: 'tcp' as const, status: failing.includes(name) ? ('critical' as const) : ('ok' as const), detail: failing.includes(name) ? 'refused' : 'ok', mandatory: true, applications: ['mail'], durationMs: 1 }));
  const deficiencies: Deficiency[] = services.filter((s) => s.status !== 'ok').map((s) => ({ kind: 'service-critical', service: s.name, applications: s.applications, mandatory: true, detail: s.detail }));
  return { serverId: id, version: 1, services, deficiencies, probes: { login: null, refresh: null }, loggedIn: false, compiledInMs: 0, clock: { local: formatLocal(epochMs, 60), epochMs, offsetMinutes: 60, correctionMs: 0 } };
}

function engine(w: World, concurrency = 4): Poller {
  return new Poller(w, { ...options(), concurrency });
}

function options(): PollerOptions {
  return {
    poll: { intervalsMs: [10_000, 1000], escalateOn: new Set(['unresponsive', 'bad-reply', 'service-critical']) },
    health: { notifyAfter: 2, notifyOn: new Set(['service-critical']) },
    timeoutMs: 1000,
    concurrency: 4,
    clockMaxDiffMs: 500,
    name: 'poller',
  };
}

describe('Poller engine', () => {
  it('polls with bounded concurrency and records every server', async () => {
    const w = new World();
    for (let i = 0; i < 50; i++) w.servers.set(`s${i}`, []);
    const p = engine(w, 4);
    const out = await p.cycle([...w.servers.keys()]);
    expect(out.every((r) => r?.lastCompilation && r.level === 0)).toBe(true);
    expect(w.maxInFlight).toBe(4);
    expect(w.records.size).toBe(50);
  });

  it('raises one unavailable notification after notifyAfter polls and one available when cleared', async () => {
    const w = new World();
    w.servers.set('s1', ['smtp']);
    const p = engine(w);
    await p.cycle(['s1']);
    expect(w.published).toEqual([]);
    await p.cycle(['s1']);
    await p.cycle(['s1']);
    expect(w.published.map((n) => [n.target, n.available, n.source, n.reason, n.component])).toEqual([['mail', false, 'monitor', 'outage', 's1/smtp']]);
    w.servers.set('s1', []);
    const [back] = await p.cycle(['s1']);
    // Back on the normal list, but polled at the critical pace until the recovery is confirmed.
    expect(back!.level).toBe(0);
    expect(back!.nextPollAt).toBe(w.time + 1000);
    await p.cycle(['s1']);
    expect(w.published.map((n) => n.available)).toEqual([false, true]);
    expect(w.records.get('s1')!.level).toBe(0);
    expect(w.records.get('s1')!.nextPollAt).toBe(w.time + 10_000);
  });

  it('keeps notifications the broker did not confirm and sends them on a later tick, in order', async () => {
    const w = new World();
    w.servers.set('s1', ['smtp']);
    const p = engine(w);
    w.publishFails = true;
    await p.cycle(['s1']);
    await p.cycle(['s1']);
    expect(w.published).toEqual([]);
    expect(w.health!.outbox.map((n) => n.available)).toEqual([false]);
    // It recovers while the broker still refuses: the second notification queues behind the first.
    w.servers.set('s1', []);
    await p.cycle(['s1']);
    await p.cycle(['s1']);
    expect(w.published).toEqual([]);
    const queued = w.health!.outbox.map((n) => [n.id, n.available]);
    expect(queued.map(([, available]) => available)).toEqual([false, true]);
    w.publishFails = false;
    p.tick();
    await p.flushOutbox();
    expect(w.published.map((n) => [n.id, n.available])).toEqual(queued);
    expect(w.health!.outbox).toEqual([]);
  });

  it('stores a decided notification before publishing it: after a crash before the confirm was recorded, the restarted poller sends it again, and later its clearing', async () => {
    const w = new World();
    w.servers.set('s1', ['smtp']);
    const p = engine(w);
    await p.cycle(['s1']);
    w.dieOnPublish = true;
    void p.cycle(['s1']); // the deciding poll: published, then the process "dies" before it records the confirm
    while (w.published.length === 0) await new Promise((r) => setImmediate(r));
    const [sent] = w.published;
    // A new poller starts from what the store holds; meanwhile the service came back.
    const after = new World();
    after.time = w.time;
    after.servers.set('s1', []);
    const restarted = engine(after);
    restarted.load(structuredClone([...w.records.values()]), structuredClone(w.health));
    restarted.tick();
    await restarted.flushOutbox();
    expect(after.published.map((n) => [n.id, n.available])).toEqual([[sent.id, false]]); // the same id: idempotent on the repeaters
    await restarted.cycle(['s1']);
    await restarted.cycle(['s1']);
    expect(after.published.map((n) => [n.target, n.available])).toEqual([['mail', false], ['mail', true]]);
    expect(after.health!.outbox).toEqual([]);
  });

  it('marks silence unresponsive, but skips polls while its own broker link is down', async () => {
    const w = new World();
    w.servers.set('s1', 'silent');
    const p = engine(w);
    const r = await p.cycle(['s1']);
    expect(r[0]!.deficiencies).toEqual([expect.objectContaining({ kind: 'unresponsive' })]);
    w.brokerUp = false;
    w.time += 60_000;
    expect(p.tick()).toBe(0);
    const again = await p.poll('s1');
    expect(again!.failures).toBe(1);
  });

  it('raises notifications for silence only when told to (NOTIFY_ON with unresponsive)', async () => {
    for (const notifyOn of [['service-critical'], ['service-critical', 'unresponsive']] as const) {
      const w = new World();
      w.servers.set('s1', []);
      const p = new Poller(w, { ...options(), health: { notifyAfter: 2, notifyOn: new Set<DeficiencyKind>(notifyOn) } });
      await p.cycle(['s1']);
      w.servers.set('s1', 'silent');
      await p.cycle(['s1']);
      await p.cycle(['s1']);
      if (notifyOn.length === 1) expect(w.published).toEqual([]);
      else expect(w.published.map((n) => [n.target, n.available, n.component])).toEqual([['mail', false, 's1/unresponsive']]);
    }
  });

  it('corrects a drifting clock (zone-adjusted) and then leaves it alone', async () => {
    const w = new World();
    w.servers.set('s1', []);
    w.skew.set('s1', 5000);
    const p = engine(w);
    const [r] = await p.cycle(['s1']);
    expect(w.setClocks).toEqual([{ id: 's1', adjustMs: -5000 }]);
    expect(r!.clock).toMatchObject({ offsetMs: 5000, corrected: -5000 });
    expect(r!.deficiencies).toEqual([expect.objectContaining({ kind: 'clock-drift', detail: 'clock 5000 ms ahead; corrected' })]);
    expect(r!.level).toBe(0);
    const [r2] = await p.cycle(['s1']);
    expect(w.setClocks).toHaveLength(1);
    expect(r2!.deficiencies).toEqual([]);
  });

  it('turns a reply that is not a compilation into a bad-reply, naming what is wrong', async () => {
    const w = new World();
    w.servers.set('s1', Buffer.from(JSON.stringify({ ...compilation('s1', [], w.time), loggedIn: 'yes' })));
    w.servers.set('s2', Buffer.from(JSON.stringify(compilation('other', [], w.time))));
    const p = engine(w);
    const [a, b] = await p.cycle(['s1', 's2']);
    expect(a!.deficiencies[0]).toMatchObject({ kind: 'bad-reply', detail: 'reply is not a valid compilation: loggedIn: loggedIn must be a boolean value' });
    expect(b!.deficiencies[0]).toMatchObject({ kind: 'bad-reply', detail: 'reply names server other, expected s1'.replace('s1', 's2') });
  });

  it('forgets a removed server and clears what it had raised', async () => {
    const w = new World();
    w.servers.set('s1', ['smtp']);
    const p = engine(w);
    await p.cycle(['s1']);
    await p.cycle(['s1']);
    expect(await p.removeServer('s1')).toBe(true);
    expect(w.records.has('s1')).toBe(false);
    expect(w.published.map((n) => [n.target, n.available])).toEqual([['mail', false], ['mail', true]]);
    expect(p.appHealth.pairs).toEqual({});
  });

  it('describes validation errors one line per field', () => {
    expect(describeErrors([{ field: 'a', message: 'x' }, { field: 'a', message: 'y' }, { field: 'b.c', message: 'z' }], { b: {} })).toBe('missing a, b.c');
    expect(describeErrors([{ field: 'a', message: 'x' }, { field: 'a', message: 'y' }], { a: 1 })).toBe('a: x');
  });
});
