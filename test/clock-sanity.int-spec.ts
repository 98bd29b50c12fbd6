import * as amqp from 'amqplib';
import { readFileSync } from 'node:fs';
import { CommandSigner, parseKeyFile } from '../libs/common/src/auth';
import { SIGNATURE_HEADER } from '../libs/common/src/auth/command-signature';
import { ATTENDANT_COMMAND } from '../libs/common/src/monitoring/compilation';
import { randomUUID } from 'node:crypto';
import { Server, createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { RABBITMQ_URL, TestFarm } from './support/test-farm';
import { monitoringKeys } from '../libs/common/src/contracts/topology';
import { AppProcess } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';

const HOUR = 3_600_000;
const DAY = 86_400_000;
const BOUND_MS = 60_000;
const MAX_DIFF_MS = 100;
const MAX_RTT_MS = 300;
const NO_PROBES = { probes: { login: { enabled: false }, refresh: { enabled: false } } };

interface ServerView {
  id: string;
  lastAnswerAt: string | null;
  deficiencies: { kind: string; detail: string }[];
  clock: { offsetMs: number; networkRttMs: number; corrected?: number; ignored?: string } | null;
}
interface ClockView {
  correctionMs: number;
  epochMs: number;
}
interface SetClockAnswer {
  ok?: true;
  correctionMs?: number;
  clamped?: boolean;
  error?: string;
}

/** Requests on an attendant's queue straight over AMQP, signed as the poller signs them, with direct reply-to. */
class AttendantLine {
  private conn?: amqp.ChannelModel;
  private ch?: amqp.ConfirmChannel;
  private readonly pending = new Map<string, (body: unknown) => void>();
  private signer?: CommandSigner;

  constructor(private readonly farm: TestFarm) {}

  private send(serverId: string, body: object, correlationId: string, signed = true, signedFor = serverId): void {
    const headers = signed ? { [SIGNATURE_HEADER]: this.signer!.sign(signedFor, ATTENDANT_COMMAND, body) } : {};
    this.ch!.sendToQueue(this.farm.t.attendantQueue(serverId), Buffer.from(JSON.stringify(body)), { replyTo: 'amq.rabbitmq.reply-to', correlationId, headers });
  }

  async open(): Promise<void> {
    this.signer = new CommandSigner('test-poller', parseKeyFile(readFileSync(this.farm.creds.keysFile, 'utf8'), 'keys'), Date.now);
    this.conn = await amqp.connect(RABBITMQ_URL());
    this.ch = await this.conn.createConfirmChannel();
    await this.ch.consume('amq.rabbitmq.reply-to', (m) => {
      const done = m && this.pending.get(m.properties.correlationId as string);
      if (!m || !done) return;
      this.pending.delete(m.properties.correlationId as string);
      done(JSON.parse(m.content.toString('utf8')));
    }, { noAck: true });
  }

  /** Sends one request and waits for its answer. */
  call<T>(serverId: string, body: object, timeoutMs = 10_000, signed = true, signedFor = serverId): Promise<T> {
    const id = randomUUID();
    return new Promise<T>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no answer from ${serverId} in ${timeoutMs} ms`)), timeoutMs);
      this.pending.set(id, (v) => {
        clearTimeout(t);
        resolve(v as T);
      });
      this.send(serverId, body, id, signed, signedFor);
    });
  }

  /** Queues `n` queries whose answers nobody waits for, and waits until the broker holds them: a backlog in front of the next request. */
  async flood(serverId: string, n: number): Promise<void> {
    for (let i = 0; i < n; i++) this.send(serverId, { op: 'query' }, `flood-${i}`);
    await this.ch!.waitForConfirms();
  }

  async close(): Promise<void> {
    await this.conn?.close().catch(() => undefined);
  }
}

/**
 * Clocks that stay sane: the attendant keeps its total correction within CLOCK_MAX_CORRECTION_MS
 * whatever set-clock commands arrive, the poller can always bring it back, and a sample whose
 * round trip is long (a backlog on the attendant's queue) is not read as drift.
 */
describe('clock sanity', () => {
  const farm = new TestFarm('clocksane');
  const line = new AttendantLine(farm);
  let poller: AppProcess;
  let slow: Server;

  const server = (id: string) => poller.get<ServerView>(`/v1/servers/${id}`);
  const pollNow = async (id: string): Promise<ServerView> => {
    const r = await poller.post(`/v1/servers/${id}/poll`);
    expect(r.status).toBe(200);
    return r.body as ServerView;
  };
  /**
   * Waits until the poller has had one answer from the server: its first poll is automatic, but
   * may come before the attendant's queue exists, so a poll is asked for (joining one in flight).
   */
  const firstAnswer = (id: string) => waitFor(`${id} answered the poller`, async () => {
    const s = await server(id).catch(() => undefined);
    if (s?.lastAnswerAt) return s;
    const r = await poller.post(`/v1/servers/${id}/poll`);
    const v = r.body as ServerView;
    return r.status === 200 && v.lastAnswerAt ? v : undefined;
  }, 30_000, 200);

  beforeAll(async () => {
    // A service whose check takes 40 ms, so queued queries drain at a bounded pace.
    slow = createServer((_req, res) => void setTimeout(() => res.end('ok'), 40));
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    await line.open();
    // Polls are driven by the tests: after the first one, servers are due again only in 10 minutes.
    poller = await farm.startPoller({
      POLL_INTERVALS_MS: '600000,300000', POLL_TICK_MS: '50', POLL_TIMEOUT_MS: '5000',
      CLOCK_MAX_DIFF_MS: String(MAX_DIFF_MS), CLOCK_MAX_RTT_MS: String(MAX_RTT_MS), ESCALATE_ON: 'unresponsive,bad-reply',
    });
  }, 60_000);

  afterAll(async () => {
    await line.close();
    await farm.cleanup();
    await new Promise((r) => slow?.close(r));
  });

  it('obeys no set-clock that the farm did not sign, nor one signed for another server', async () => {
    const a = await farm.startAttendant('srv-signed', NO_PROBES);
    await firstAnswer('srv-signed');
    const unsigned = await line.call<SetClockAnswer>('srv-signed', { op: 'set-clock', adjustMs: DAY, by: 'anyone' }, 10_000, false);
    expect(unsigned.error).toBe('refused (missing): the command carries no farm-signature');
    const elsewhere = await line.call<SetClockAnswer>('srv-signed', { op: 'set-clock', adjustMs: DAY, by: 'test' }, 10_000, true, 'srv-bound');
    expect(elsewhere.error).toMatch(/^refused \(misdirected\): signed as attendant\.request for srv-bound/);
    expect((await a.get<ClockView>('/v1/clock')).correctionMs).toBe(0);
    expect(await farm.redis.get(monitoringKeys(farm.ns).clock('srv-signed'))).toBeNull();
  });

  it('three set-clock of a day each leave the correction at CLOCK_MAX_CORRECTION_MS, and the poller brings it back', async () => {
    const a = await farm.startAttendant('srv-bound', NO_PROBES, { CLOCK_MAX_CORRECTION_MS: String(BOUND_MS) });
    const first = await firstAnswer('srv-bound');
    expect(first.clock?.corrected).toBeUndefined();

    const answers: SetClockAnswer[] = [];
    for (let i = 0; i < 3; i++) answers.push(await line.call<SetClockAnswer>('srv-bound', { op: 'set-clock', adjustMs: DAY, by: 'test' }));
    expect(answers).toEqual([0, 1, 2].map(() => expect.objectContaining({ ok: true, correctionMs: BOUND_MS, clamped: true })));
    expect((await a.get<ClockView>('/v1/clock')).correctionMs).toBe(BOUND_MS);
    expect(Number(await farm.redis.get(monitoringKeys(farm.ns).clock('srv-bound')))).toBe(BOUND_MS);

    // The clock now runs a minute ahead: one poll sets it back within CLOCK_MAX_DIFF_MS.
    const polled = await pollNow('srv-bound');
    expect(polled.clock?.corrected).toBeLessThan(-BOUND_MS + 300);
    expect(polled.clock?.corrected).toBeGreaterThan(-BOUND_MS - 300);
    expect(polled.deficiencies).toEqual([expect.objectContaining({ kind: 'clock-drift', detail: expect.stringMatching(/ahead; corrected$/) })]);
    const after = await a.get<ClockView>('/v1/clock');
    expect(Math.abs(after.correctionMs)).toBeLessThan(300);
    expect(Math.abs(after.epochMs - Date.now())).toBeLessThan(500);
  }, 60_000);

  it('a hardware clock further off than the bound is corrected only up to the bound, and the poller says so', async () => {
    const a = await farm.startAttendant('srv-far', NO_PROBES, { CLOCK_SKEW_MS: String(2 * HOUR), CLOCK_MAX_CORRECTION_MS: String(HOUR) });
    // Its first answered poll finds it two hours ahead and asks for -2 h; the attendant keeps -1 h
    // (a later poll finds it one hour ahead, asks for -1 h more and is limited the same way).
    const s = await firstAnswer('srv-far');
    expect(s.clock!.corrected).toBeLessThan(-HOUR + 500);
    expect(s.deficiencies).toEqual([expect.objectContaining({ kind: 'clock-drift', detail: expect.stringContaining(`limited by the server's CLOCK_MAX_CORRECTION_MS to ${-HOUR} ms`) })]);
    expect((await a.get<ClockView>('/v1/clock')).correctionMs).toBe(-HOUR);
  }, 60_000);

  it('a correction stored beyond the bound by an older run is cut to the bound at start', async () => {
    const key = monitoringKeys(farm.ns).clock('srv-old');
    await farm.redis.set(key, String(3 * DAY));
    // Its hardware clock is a minute behind, so the corrected clock is right and the poller leaves it alone.
    const a = await farm.startAttendant('srv-old', NO_PROBES, { CLOCK_MAX_CORRECTION_MS: String(BOUND_MS), CLOCK_SKEW_MS: String(-BOUND_MS) });
    expect((await a.get<ClockView>('/v1/clock')).correctionMs).toBe(BOUND_MS);
    await waitFor('the stored correction rewritten', async () => Number(await farm.redis.get(key)) === BOUND_MS, 5000);
    const polled = await firstAnswer('srv-old');
    expect(polled.clock?.corrected).toBeUndefined();
    expect((await a.get<ClockView>('/v1/clock')).correctionMs).toBe(BOUND_MS);
  }, 60_000);

  it('an attendant with a backlog on its queue is not corrected: the wait is not drift', async () => {
    const a = await farm.startAttendant('srv-busy', {
      ...NO_PROBES,
      services: [{ name: 'slow-web', applications: ['web'], check: { kind: 'http', url: `http://127.0.0.1:${(slow.address() as AddressInfo).port}/` } }],
    });
    const first = await firstAnswer('srv-busy');
    // Without a backlog the sample is trusted and the (correct) clock is left alone.
    expect(first.clock?.networkRttMs).toBeLessThan(MAX_RTT_MS);
    expect(first.clock?.corrected).toBeUndefined();
    expect(first.clock?.ignored).toBeUndefined();

    await line.flood('srv-busy', 300);
    const polled = await pollNow('srv-busy');
    // The precondition: the poller's query waited behind the backlog, which looks like a clock
    // running ahead by half the wait, beyond CLOCK_MAX_DIFF_MS (the old rule corrected it).
    expect(polled.clock!.networkRttMs).toBeGreaterThan(MAX_RTT_MS);
    expect(polled.clock!.offsetMs).toBeGreaterThan(MAX_DIFF_MS);
    // The rule: not trusted, not corrected, no clock-drift.
    expect(polled.clock!.corrected).toBeUndefined();
    expect(polled.clock!.ignored).toContain('CLOCK_MAX_RTT_MS');
    expect(polled.deficiencies.filter((d) => d.kind === 'clock-drift')).toEqual([]);
    expect((await a.get<ClockView>('/v1/clock')).correctionMs).toBe(0);
    expect(await farm.redis.get(monitoringKeys(farm.ns).clock('srv-busy'))).toBeNull();
  }, 90_000);
});
