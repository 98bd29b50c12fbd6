import fc from 'fast-check';
import { checkDto } from '../contracts/validation';
import { FarmClock } from './clock';
import { CompilationDto } from './compilation';
import { Compiler } from './compiler';
import { certainlyIso, certainlyValidCompilation } from './fast-compilation';

const dtoAccepts = (v: unknown): boolean => checkDto(CompilationDto, JSON.parse(JSON.stringify(v))).value !== undefined;

const anyValue = fc.oneof(fc.string({ maxLength: 5 }), fc.integer(), fc.double(), fc.boolean(), fc.constant(null), fc.constant(undefined), fc.array(fc.integer(), { maxLength: 2 }), fc.constant({}));
const time = fc.oneof(
  { arbitrary: fc.date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(Date.UTC(2100, 0, 1)), noInvalidDate: true }).map((d) => d.toISOString()), weight: 30 },
  fc.date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(Date.UTC(2100, 0, 1)), noInvalidDate: true }).map((d) => d.toISOString()),
  fc.constant('2026-11-24T15:30:00.005+05:30'),
  fc.constantFrom('2026-02-30T00:00:00.000Z', '2026-11-24T10:00:00Z', '2026-11-24T24:00:00.000+00:00', '2026-11-24T10:00:00.000+24:00', 'now', '0999-01-01T00:00:00.000Z'),
);
const nonNeg = fc.double({ min: 0, max: 1e6, noNaN: true, noDefaultInfinity: true });
const apps = fc.array(fc.constantFrom('mail', 'web', 'db.main'), { maxLength: 3 });
const goodTime = fc.date({ min: new Date(Date.UTC(1000, 0, 1)), max: new Date(Date.UTC(2100, 0, 1)), noInvalidDate: true }).map((d) => d.toISOString());
const service = fc.record({
  name: fc.string({ maxLength: 128 }), kind: fc.constantFrom('tcp', 'http', 'process', 'command', 'systemd'), status: fc.constantFrom('ok', 'warning', 'critical', 'unknown'),
  detail: fc.string({ maxLength: 20 }), mandatory: fc.boolean(), applications: apps, durationMs: nonNeg,
});
const deficiency = fc.record({
  kind: fc.constantFrom('unresponsive', 'service-critical', 'clock-drift', 'login-probe'), service: fc.string({ maxLength: 128 }), applications: apps, mandatory: fc.boolean(), detail: fc.string({ maxLength: 20 }),
}, { requiredKeys: ['kind', 'applications', 'mandatory', 'detail'] });
const probe = fc.option(fc.record({ ok: fc.boolean(), at: goodTime, durationMs: nonNeg, detail: fc.string({ maxLength: 20 }) }));
const validCompilation = fc.record({
  serverId: fc.constantFrom('srv-1', 'node.2', '_a'), version: fc.constant(1),
  clock: fc.record({ local: fc.oneof(goodTime, fc.constant('2026-11-24T15:30:00.005+05:30')), epochMs: nonNeg, offsetMinutes: fc.integer({ min: -840, max: 840 }), correctionMs: fc.double({ noNaN: true, noDefaultInfinity: true }) }),
  services: fc.array(service, { maxLength: 3 }), probes: fc.record({ login: probe, refresh: probe }, { requiredKeys: [] }), loggedIn: fc.boolean(),
  deficiencies: fc.array(deficiency, { maxLength: 3 }), compiledInMs: nonNeg,
});
const badValue = fc.oneof(anyValue, time, fc.constantFrom('bad id', 'x'.repeat(1001), 'ftp', 'bad app', -1, Infinity, NaN, 2, 841));

/** A valid compilation with 0-2 mutations: a value replaced, a key deleted, or a key added, anywhere. */
const nearCompilation = fc.tuple(validCompilation, fc.array(fc.tuple(fc.nat(), fc.constantFrom('replace', 'delete', 'add'), badValue), { maxLength: 2 })).map(([c, mutations]) => {
  const v = JSON.parse(JSON.stringify(c)) as Record<string, unknown>;
  for (const [pick, action, bad] of mutations) {
    const spots: [Record<string, unknown>, string][] = [];
    const walk = (o: unknown): void => {
      if (o === null || typeof o !== 'object') return;
      for (const k of Object.keys(o)) {
        spots.push([o as Record<string, unknown>, k]);
        walk((o as Record<string, unknown>)[k]);
      }
    };
    walk(v);
    if (spots.length === 0) continue;
    const [o, k] = spots[pick % spots.length];
    if (action === 'replace') o[k] = bad;
    else if (action === 'delete') delete o[k];
    else if (!Array.isArray(o)) o.extra = bad;
  }
  return v;
});

describe('certainlyValidCompilation', () => {
  it('never accepts what the class-validator DTO refuses, and both branches run often', () => {
    const seen = { samples: 0, accepted: 0, doubtful: 0, refused: 0 };
    fc.assert(
      fc.property(nearCompilation, (v) => {
        seen.samples++;
        const dtoOk = dtoAccepts(v);
        if (!dtoOk) seen.refused++;
        if (certainlyValidCompilation(v)) {
          seen.accepted++;
          expect(dtoOk).toBe(true);
        } else {
          seen.doubtful++;
        }
      }),
      { numRuns: 3000 },
    );
    // The generator must reach both sides in a fair share, or the property says little.
    expect(seen.accepted / seen.samples).toBeGreaterThanOrEqual(0.2);
    expect(seen.doubtful / seen.samples).toBeGreaterThanOrEqual(0.2);
    expect(seen.refused / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('accepts what the attendant compiles, so the hot path is taken', async () => {
    const c = await new Compiler('srv-1', {
      services: [{ name: 'smtp', check: { kind: 'tcp', host: '127.0.0.1', port: 1 }, applications: ['mail'], mandatory: true }],
      checkTimeoutMs: 100, answerBudgetMs: 200, probes: { login: { enabled: true, intervalMs: 1000 }, refresh: { enabled: true, intervalMs: 1000 } },
    }, new FarmClock(), () => ({ loggedIn: true, login: { ok: true, at: new FarmClock().reading().local, durationMs: 3, detail: 'ok' }, refresh: null }), async () => ({ status: 'critical', detail: 'refused' })).compile();
    const wire = JSON.parse(JSON.stringify(c));
    expect(certainlyValidCompilation(wire)).toBe(true);
    expect(dtoAccepts(wire)).toBe(true);
  });

  it('is strict about times', () => {
    expect(certainlyIso('2026-11-24T15:30:00.005+05:30')).toBe(true);
    for (const t of ['2026-02-29T00:00:00.000Z', '2026-11-24T10:00:00Z', '2026-13-01T00:00:00.000Z', 'x']) expect(certainlyIso(t)).toBe(false);
  });
});
