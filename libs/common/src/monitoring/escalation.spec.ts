import fc from 'fast-check';
import type { Compilation, Deficiency, DeficiencyKind } from './compilation';
import { DEFICIENCY_KINDS } from './compilation';
import { PollOutcome, PollSettings, ServerRecord, applyPoll, dueServers, listOf, newServerRecord, nextLevel, validIntervals } from './escalation';

const MIN = 60_000;
const settings: PollSettings = {
  intervalsMs: [15 * MIN, 2 * MIN],
  escalateOn: new Set<DeficiencyKind>(['unresponsive', 'bad-reply', 'service-critical']),
};

function compilation(deficiencies: Deficiency[]): Compilation {
  return {
    serverId: 's1', version: 1, services: [], probes: { login: null, refresh: null }, loggedIn: true, deficiencies, compiledInMs: 1,
    clock: { local: '2026-11-24T10:00:00.000+00:00', epochMs: 0, offsetMinutes: 0, correctionMs: 0 },
  };
}
const critical = (service = 'smtp'): Deficiency => ({ kind: 'service-critical', service, applications: ['mail'], mandatory: true, detail: 'refused' });
const warning = (service = 'disk'): Deficiency => ({ kind: 'service-warning', service, applications: [], mandatory: false, detail: '91%' });
const answer = (...ds: Deficiency[]): PollOutcome => ({ ok: true, compilation: compilation(ds), deficiencies: ds });
const silence: PollOutcome = { ok: false, deficiency: { kind: 'unresponsive', applications: [], mandatory: false, detail: 'no answer within 5000 ms' } };

/** Drives a record with a fake clock: each poll happens exactly when it is due. */
function run(outcomes: PollOutcome[], s = settings): { record: ServerRecord; times: number[]; lists: string[] } {
  let record = newServerRecord('s1', 0);
  const times: number[] = [];
  const lists: string[] = [];
  for (const o of outcomes) {
    const now = record.nextPollAt;
    times.push(now);
    record = applyPoll(record, o, s, now).record;
    lists.push(listOf(record.level));
  }
  return { record, times, lists };
}

describe('escalation between the normal and critical lists', () => {
  it('moves a failing server to critical, polls it at the critical interval, and returns it when all clears', () => {
    const { times, lists } = run([answer(), answer(critical()), answer(critical()), answer(critical(), warning()), answer(warning()), answer()]);
    expect(lists).toEqual(['normal', 'critical', 'critical', 'critical', 'critical', 'normal']);
    // Polls: t=0, then 15 min later (found failing), then every 2 min while critical.
    expect(times).toEqual([0, 15 * MIN, 17 * MIN, 19 * MIN, 21 * MIN, 23 * MIN]);
  });

  it('keeps a critical server critical while a non-escalating deficiency remains', () => {
    const { lists } = run([answer(critical()), answer(warning()), answer(warning()), answer()]);
    expect(lists).toEqual(['critical', 'critical', 'critical', 'normal']);
  });

  it('does not escalate on a deficiency kind outside the transfer settings', () => {
    const { lists, record } = run([answer(warning()), answer(warning())]);
    expect(lists).toEqual(['normal', 'normal']);
    expect(record.deficiencies).toHaveLength(1);
  });

  it('escalates on any deficiency of a service named in the transfer settings, whatever its kind', () => {
    const named: PollSettings = { ...settings, escalateServices: new Set(['directory']) };
    expect(run([answer(warning('directory')), answer(warning('directory')), answer()], named).lists).toEqual(['critical', 'critical', 'normal']);
    // Another service's warning still does not.
    expect(run([answer(warning('disk'))], named).lists).toEqual(['normal']);
    expect(nextLevel(0, [warning('directory')], settings)).toBe(0);
  });

  it('treats silence as an escalating `unresponsive` deficiency and counts failures', () => {
    const { lists, record } = run([answer(), silence, silence]);
    expect(lists).toEqual(['normal', 'critical', 'critical']);
    expect(record.failures).toBe(2);
    expect(record.deficiencies[0].kind).toBe('unresponsive');
    expect(record.lastCompilation?.deficiencies).toEqual([]);
  });

  it('climbs one level per failing poll through more levels, and drops straight back to normal', () => {
    const s: PollSettings = { ...settings, intervalsMs: [10 * MIN, 2 * MIN, 30_000] };
    const { times, record } = run([answer(critical()), answer(critical()), answer(critical()), answer()], s);
    expect(times).toEqual([0, 2 * MIN, 2 * MIN + 30_000, 2 * MIN + 60_000]);
    expect(record.level).toBe(0);
  });

  it('reports list and deficiency changes only when they happen', () => {
    const r0 = newServerRecord('s1', 0);
    const a = applyPoll(r0, answer(critical()), settings, 0);
    expect(a.change).toEqual({ listChanged: true, deficienciesChanged: true });
    const b = applyPoll(a.record, answer({ ...critical(), detail: 'timed out' }), settings, 1);
    expect(b.change).toEqual({ listChanged: false, deficienciesChanged: false });
    const c = applyPoll(b.record, answer(critical(), critical('imap')), settings, 2);
    expect(c.change).toEqual({ listChanged: false, deficienciesChanged: true });
    expect(c.record.listSince).toBe(0);
  });

  it('orders due servers most overdue first', () => {
    const rs = [{ ...newServerRecord('b', 0), nextPollAt: 5 }, { ...newServerRecord('a', 0), nextPollAt: 5 }, { ...newServerRecord('c', 0), nextPollAt: 1 }, { ...newServerRecord('d', 0), nextPollAt: 9 }];
    expect(dueServers(rs, 6).map((r) => r.id)).toEqual(['c', 'a', 'b']);
  });

  it('validates interval lists', () => {
    expect(validIntervals([900_000, 120_000])).toBeUndefined();
    expect(validIntervals([900_000])).toMatch(/at least two/);
    expect(validIntervals([1000, 2000])).toMatch(/shorter/);
  });

  const deficiencyArb = fc.record({
    kind: fc.constantFrom(...DEFICIENCY_KINDS),
    service: fc.constantFrom('a', 'b', 'c'),
    applications: fc.constant([] as string[]),
    mandatory: fc.boolean(),
    detail: fc.string(),
  });
  const settingsArb = fc.record({
    intervalsMs: fc.uniqueArray(fc.integer({ min: 10, max: 1_000_000 }), { minLength: 2, maxLength: 5 }).map((xs) => xs.sort((a, b) => b - a)),
    escalateOn: fc.subarray([...DEFICIENCY_KINDS]).map((xs) => new Set(xs)),
  });

  it('property: the level stays in range, is 0 exactly after a clean poll, and fixes the next poll time', () => {
    const seen = { samples: 0, climbedAndBack: 0, top: 0 };
    fc.assert(
      fc.property(settingsArb, fc.array(fc.array(deficiencyArb, { maxLength: 4 }), { maxLength: 30 }), (s, polls) => {
        let r = newServerRecord('x', 0);
        const reached = { climbed: false, top: false, backToNormal: false };
        for (const ds of polls) {
          const before = r.level;
          const now = r.nextPollAt;
          r = applyPoll(r, answer(...ds), s, now).record;
          if (r.level > before) reached.climbed = true;
          if (r.level === s.intervalsMs.length - 1) reached.top = true;
          if (before > 0 && r.level === 0) reached.backToNormal = true;
          expect(r.level).toBeGreaterThanOrEqual(0);
          expect(r.level).toBeLessThan(s.intervalsMs.length);
          expect(r.level === 0).toBe(ds.length === 0 || (before === 0 && !ds.some((d) => s.escalateOn.has(d.kind))));
          expect(r.nextPollAt).toBe(now + s.intervalsMs[r.level]);
          expect(r.level).toBe(nextLevel(before, ds, s));
        }
        seen.samples++;
        if (reached.climbed && reached.backToNormal) seen.climbedAndBack++;
        if (reached.top) seen.top++;
      }),
    );
    expect(seen.climbedAndBack / seen.samples).toBeGreaterThanOrEqual(0.2);
    expect(seen.top / seen.samples).toBeGreaterThanOrEqual(0.2);
  });
});
