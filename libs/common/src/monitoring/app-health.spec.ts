import fc from 'fast-check';
import type { Compilation, Deficiency, DeficiencyKind, ServiceReport } from './compilation';
import { AppHealth, HealthSettings, emptyHealth, forgetServer, observe, recordObservations } from './app-health';

const settings: HealthSettings = { notifyAfter: 2, notifyOn: new Set<DeficiencyKind>(['service-critical']) };

function service(name: string, applications: string[], mandatory = true): ServiceReport {
  return { name, kind: 'tcp', status: 'ok', detail: '', mandatory, applications, durationMs: 1 };
}
function compile(serverId: string, services: ServiceReport[], failing: string[] = []): Compilation {
  const deficiencies: Deficiency[] = services
    .filter((s) => failing.includes(s.name))
    .map((s) => ({ kind: 'service-critical', service: s.name, applications: s.applications, mandatory: s.mandatory, detail: 'connection refused' }));
  return {
    serverId, version: 1, services, deficiencies, probes: { login: null, refresh: null }, loggedIn: true, compiledInMs: 1,
    clock: { local: '2026-11-24T10:00:00.000+00:00', epochMs: 0, offsetMinutes: 0, correctionMs: 0 },
  };
}

const services = [service('smtp', ['mail']), service('db', ['mail', 'web']), service('cache', ['web'], false)];

function feed(h: AppHealth, serverId: string, failing: string[], s = settings) {
  return recordObservations(h, serverId, observe(compile(serverId, services, failing), s), s);
}

describe('availability notifications from poll results', () => {
  it('acts only after notifyAfter consecutive results, once, and clears the same way', () => {
    let h = emptyHealth();
    let r = feed(h, 's1', ['smtp']);
    expect(r.changes).toEqual([]);
    h = r.health;
    r = feed(h, 's1', ['smtp']);
    expect(r.changes).toEqual([{ application: 'mail', available: false, components: ['s1/smtp'], detail: 's1: smtp: connection refused' }]);
    h = r.health;
    expect(feed(h, 's1', ['smtp']).changes).toEqual([]);
    r = feed(h, 's1', []);
    expect(r.changes).toEqual([]);
    r = feed(r.health, 's1', []);
    expect(r.changes).toEqual([{ application: 'mail', available: true, components: [], detail: '' }]);
    expect(r.health).toEqual(emptyHealth());
  });

  it('ignores a flapping service', () => {
    let h = emptyHealth();
    for (let i = 0; i < 20; i++) {
      const r = feed(h, 's1', i % 2 === 0 ? ['smtp'] : []);
      expect(r.changes).toEqual([]);
      h = r.health;
    }
  });

  it('a non-mandatory service never raises a notification; a shared one affects every application', () => {
    let h = emptyHealth();
    for (let i = 0; i < 5; i++) {
      const alone = feed(h, 's1', ['cache']);
      expect(alone.changes).toEqual([]);
      h = alone.health;
    }
    h = feed(h, 's1', ['cache', 'db']).health;
    const r = feed(h, 's1', ['cache', 'db']);
    expect(r.changes.map((c) => [c.application, c.available, c.components]).sort()).toEqual([['mail', false, ['s1/db']], ['web', false, ['s1/db']]]);
  });

  it('keeps an application down while any server still fails it', () => {
    let h = emptyHealth();
    for (const id of ['s1', 's2']) h = feed(feed(h, id, ['smtp']).health, id, ['smtp']).health;
    expect(h.published.mail.components).toEqual(['s1/smtp', 's2/smtp']);
    let r = feed(feed(h, 's1', []).health, 's1', []);
    expect(r.changes).toEqual([{ application: 'mail', available: false, components: ['s2/smtp'], detail: 's2: smtp: connection refused' }]);
    r = feed(feed(r.health, 's2', []).health, 's2', []);
    expect(r.changes.map((c) => c.available)).toEqual([true]);
  });

  it('counts an application the server stopped reporting as up', () => {
    let h = emptyHealth();
    h = feed(feed(h, 's1', ['smtp']).health, 's1', ['smtp']).health;
    const gone = new Map();
    h = recordObservations(h, 's1', gone, settings).health;
    const r = recordObservations(h, 's1', gone, settings);
    expect(r.changes).toEqual([{ application: 'mail', available: true, components: [], detail: '' }]);
  });

  it('property: the published state is always the aggregate of confirmed pairs, and a flip needs notifyAfter agreeing results', () => {
    const step = fc.record({ server: fc.constantFrom('s1', 's2', 's3'), failing: fc.subarray(['smtp', 'db', 'cache']) });
    const seen = { samples: 0, flipped: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(step, { maxLength: 60 }), (n, steps) => {
        const s = { ...settings, notifyAfter: n };
        let h = emptyHealth();
        let flipped = false;
        const runs = new Map<string, { down: boolean; count: number }>();
        for (const st of steps) {
          const observed = observe(compile(st.server, services, st.failing), s);
          for (const [app, o] of observed) {
            const run = runs.get(`${st.server}|${app}`);
            runs.set(`${st.server}|${app}`, run && run.down === o.down ? { down: o.down, count: run.count + 1 } : { down: o.down, count: 1 });
          }
          const wasDown = { mail: Boolean(h.published.mail?.down), web: Boolean(h.published.web?.down) };
          const r = recordObservations(h, st.server, observed, s);
          h = r.health;
          for (const app of ['mail', 'web'] as const) {
            const anyDown = Object.values(h.pairs).some((apps) => apps[app]?.down);
            expect(Boolean(h.published[app]?.down)).toBe(anyDown);
            // Availability flips only after n agreeing results in a row from the server that flipped it.
            if (Boolean(h.published[app]?.down) !== wasDown[app]) {
              flipped = true;
              expect(runs.get(`${st.server}|${app}`)!.count).toBeGreaterThanOrEqual(n);
            }
          }
        }
        seen.samples++;
        if (flipped) seen.flipped++;
      }),
    );
    expect(seen.flipped / seen.samples).toBeGreaterThanOrEqual(0.2);
  });
});

describe('forgetting a server', () => {
  it('brings back at once what only that server held down', () => {
    let h = emptyHealth();
    h = feed(feed(h, 's1', ['smtp']).health, 's1', ['smtp']).health;
    h = feed(feed(h, 's2', ['db']).health, 's2', ['db']).health;
    const r = forgetServer(h, 's1');
    expect(r.changes).toEqual([{ application: 'mail', available: false, components: ['s2/db'], detail: 's2: db: connection refused' }]);
    const r2 = forgetServer(r.health, 's2');
    expect(r2.changes.map((c) => [c.application, c.available]).sort()).toEqual([['mail', true], ['web', true]]);
    expect(r2.health).toEqual(emptyHealth());
  });
});
