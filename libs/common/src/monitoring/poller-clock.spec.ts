import type { Notification } from '../domain/notification';
import { boundedCorrection, formatLocal } from './clock';
import type { Compilation } from './compilation';
import type { ServerRecord } from './escalation';
import { PersistedHealth, Poller, PollerPorts } from './poller';

/**
 * One attendant with a hardware clock `skew` ms off and a queue wait of `queueMs` before each
 * request is served (on the master clock), keeping its correction within `maxCorrectionMs`.
 */
class ClockWorld implements PollerPorts {
  time = 1_000_000;
  skew = 0;
  correction = 0;
  queueMs = 0;
  maxCorrectionMs = 3_600_000;
  setClocks: number[] = [];
  records = new Map<string, ServerRecord>();

  now = (): number => this.time;
  canRequest = (): boolean => true;

  async request(id: string, body: Buffer): Promise<Buffer> {
    this.time += 2 + this.queueMs; // one way, then the wait in the queue
    const req = JSON.parse(body.toString()) as { op: string; adjustMs?: number };
    const serverNow = this.time + this.skew + this.correction;
    const clock = { local: formatLocal(serverNow, 0), epochMs: serverNow, offsetMinutes: 0, correctionMs: this.correction };
    this.time += 2; // the way back
    if (req.op === 'set-clock') {
      this.setClocks.push(req.adjustMs!);
      const r = boundedCorrection(this.correction, req.adjustMs!, this.maxCorrectionMs);
      this.correction = r.correctionMs;
      return Buffer.from(JSON.stringify({ ok: true, serverId: id, correctionMs: r.correctionMs, clamped: r.clamped, clock }));
    }
    const c: Compilation = { serverId: id, version: 1, services: [], deficiencies: [], probes: { login: null, refresh: null }, loggedIn: false, compiledInMs: 0, clock };
    return Buffer.from(JSON.stringify(c));
  }

  async saveRecord(r: ServerRecord): Promise<void> {
    this.records.set(r.id, r);
  }
  async deleteRecord(): Promise<void> {}
  async saveHealth(_h: PersistedHealth): Promise<void> {}
  async publish(_n: Notification): Promise<void> {}
}

function poller(w: ClockWorld): Poller {
  return new Poller(w, {
    poll: { intervalsMs: [10_000, 1000], escalateOn: new Set(['unresponsive']) },
    health: { notifyAfter: 2, notifyOn: new Set(['service-critical']) },
    timeoutMs: 10_000,
    concurrency: 1,
    clockMaxDiffMs: 100,
    clockMaxRttMs: 300,
    name: 'poller',
  });
}

describe('Poller clock correction', () => {
  it('corrects a drifting clock measured with a short round trip', async () => {
    const w = new ClockWorld();
    w.skew = 5000;
    const [r] = await poller(w).cycle(['s1']);
    expect(w.setClocks).toEqual([-5000]);
    expect(r!.clock).toMatchObject({ corrected: -5000 });
    expect(r!.deficiencies).toEqual([expect.objectContaining({ kind: 'clock-drift', detail: 'clock 5000 ms ahead; corrected' })]);
  });

  it('does not read a queue wait as drift: a correct clock behind a 2 s backlog is left alone', async () => {
    const w = new ClockWorld();
    w.queueMs = 2000;
    const [r] = await poller(w).cycle(['s1']);
    // The old rule saw a clock about 1 s ahead here; the round trip is above the bound.
    expect(r!.clock!.offsetMs).toBeGreaterThan(900);
    expect(r!.clock!.networkRttMs).toBeGreaterThan(300);
    expect(w.setClocks).toEqual([]);
    expect(r!.clock!.ignored).toContain('CLOCK_MAX_RTT_MS');
    expect(r!.deficiencies).toEqual([]);
  });

  it('says when the attendant limited the correction to its bound', async () => {
    const w = new ClockWorld();
    w.skew = 7_200_000;
    const p = poller(w);
    const [r] = await p.cycle(['s1']);
    expect(w.setClocks).toEqual([-7_200_000]);
    expect(w.correction).toBe(-3_600_000);
    expect(r!.deficiencies[0].detail).toBe("clock 7200000 ms ahead; correction limited by the server's CLOCK_MAX_CORRECTION_MS to -3600000 ms");
  });
});
