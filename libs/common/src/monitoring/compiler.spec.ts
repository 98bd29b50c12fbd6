import type { AttendantConfig, CheckSpec } from './attendant-config.types';
import { FarmClock } from './clock';
import { CompilationDto } from './compilation';
import { CheckRunner, Compiler, ProbeState } from './compiler';
import { checkDto } from '../contracts/validation';

const tcp = (port: number): CheckSpec => ({ kind: 'tcp', host: '127.0.0.1', port });

function config(ports: number[], budget = 300): AttendantConfig {
  return {
    services: ports.map((p, i) => ({ name: `s${i}`, check: tcp(p), applications: i === 0 ? ['mail'] : [], mandatory: i === 0 })),
    checkTimeoutMs: 10_000,
    answerBudgetMs: budget,
    probes: { login: { enabled: true, intervalMs: 1000 }, refresh: { enabled: true, intervalMs: 1000 } },
  };
}

/** Port n: resolves after n ms with status by n's last digit (0 ok, 1 warning, 2 critical); 9999 never. */
const fakeRunner: CheckRunner = (spec) =>
  new Promise((resolve) => {
    const port = (spec as { port: number }).port;
    if (port === 9999) return;
    const status = (['ok', 'warning', 'critical'] as const)[port % 10] ?? 'unknown';
    setTimeout(() => resolve({ status, detail: `port ${port}` }), port / 10);
  });

/**
 * A runner whose checks each wait until `n` checks have started (a barrier), then answer as
 * fakeRunner's status rule says; it records the most checks in flight at once.
 */
function barrierRunner(n: number): { run: CheckRunner; readonly maxInFlight: number } {
  let started = 0;
  let inFlight = 0;
  let maxInFlight = 0;
  let open!: () => void;
  const allStarted = new Promise<void>((resolve) => (open = resolve));
  const run: CheckRunner = async (spec) => {
    started++;
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    if (started === n) open();
    await allStarted;
    inFlight--;
    const port = (spec as { port: number }).port;
    return { status: (['ok', 'warning', 'critical'] as const)[port % 10] ?? 'unknown', detail: `port ${port}` };
  };
  return { run, get maxInFlight() { return maxInFlight; } };
}

const probes: ProbeState = { loggedIn: true, login: { ok: false, at: '2026-11-24T10:00:00.000+00:00', durationMs: 3, detail: 'no new message' }, refresh: null };

describe('Compiler', () => {
  it('runs every check in parallel and compiles a valid answer with its deficiencies', async () => {
    // Each check waits until all three have started: run one after another, the first would
    // wait until the answer budget ends and be reported unknown, and at most one would be in flight.
    const barrier = barrierRunner(3);
    const c = new Compiler('srv-1', config([100, 201, 302], 2000), new FarmClock(), () => probes, barrier.run);
    const out = await c.compile();
    expect(barrier.maxInFlight).toBe(3);
    // No check waited out the budget (that would read unknown): all three met at the barrier.
    expect(out.services.map((s) => s.status)).toEqual(['ok', 'warning', 'critical']);
    expect(out.deficiencies.map((d) => `${d.kind}:${d.service}`)).toEqual(['service-warning:s1', 'service-critical:s2', 'login-probe:login-probe']);
    expect(checkDto(CompilationDto, JSON.parse(JSON.stringify(out))).errors).toBeUndefined();
  });

  it('answers within the budget even when a check hangs, reporting it unknown', async () => {
    const c = new Compiler('srv-1', config([100, 9999], 150), new FarmClock(), () => probes, fakeRunner);
    const t0 = Date.now();
    const out = await c.compile();
    expect(Date.now() - t0).toBeLessThan(400);
    expect(out.services[1]).toMatchObject({ status: 'unknown', detail: 'no result within the answer budget of 150 ms' });
    expect(out.deficiencies.map((d) => d.kind)).toContain('service-unknown');
  });

  it('reports a check that throws as unknown instead of failing the answer', async () => {
    const c = new Compiler('srv-1', config([100]), new FarmClock(), () => probes, () => Promise.reject(new Error('boom')));
    const out = await c.compile();
    expect(out.services[0]).toMatchObject({ status: 'unknown', detail: 'check failed: boom' });
  });

  it('reads the clock with its correction', async () => {
    const c = new Compiler('srv-1', config([]), new FarmClock(-5000, 5000), () => probes, fakeRunner);
    const out = await c.compile();
    expect(Math.abs(out.clock.epochMs - Date.now())).toBeLessThan(50);
    expect(out.clock.correctionMs).toBe(-5000);
  });
});
