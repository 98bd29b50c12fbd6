import type { Compilation, Deficiency, DeficiencyKind } from './compilation';

/**
 * From poll results to availability notifications, as a pure state machine with hysteresis.
 *
 * Each server's answer is an observation per application it reports on: down when a mandatory
 * service affecting the application has a deficiency of a notifying kind, up otherwise. A
 * (server, application) pair changes its confirmed state only after `notifyAfter` consecutive
 * observations agree. An application is down while any server's confirmed state for it is down,
 * and a notification is produced only when that aggregate changes, so a flapping service does
 * not flood the farm and two servers of one application do not overwrite each other.
 */

export interface HealthSettings {
  notifyAfter: number;
  notifyOn: ReadonlySet<DeficiencyKind>;
}

export interface PairState {
  /** Confirmed state of this server for this application. */
  down: boolean;
  /** Observations in a row that disagree with `down`. */
  streak: number;
  /** Failing components (service names) behind the last down observation. */
  components: string[];
  detail: string;
}

export interface AppHealth {
  /** serverId -> application -> pair state. */
  pairs: Record<string, Record<string, PairState>>;
  /** Applications the poller has declared unavailable (its last notification for each). */
  published: Record<string, { down: boolean; components: string[] }>;
}

export interface Observation {
  down: boolean;
  components: string[];
  detail: string;
}

export interface AppChange {
  application: string;
  available: boolean;
  /** `server/service` of every confirmed failure behind an unavailable application. */
  components: string[];
  detail: string;
}

export function emptyHealth(): AppHealth {
  return { pairs: {}, published: {} };
}

/** Observations of one compilation: every application any of its services affects. */
export function observe(c: Compilation, settings: HealthSettings): Map<string, Observation> {
  const out = new Map<string, Observation>();
  for (const s of c.services) for (const app of s.applications) if (!out.has(app)) out.set(app, { down: false, components: [], detail: '' });
  for (const d of c.deficiencies) {
    if (!d.mandatory || !settings.notifyOn.has(d.kind)) continue;
    for (const app of d.applications) {
      const o = out.get(app) ?? { down: false, components: [], detail: '' };
      o.down = true;
      if (d.service) o.components.push(d.service);
      o.detail = o.detail ? `${o.detail}; ${d.service}: ${d.detail}` : `${d.service}: ${d.detail}`;
      out.set(app, o);
    }
  }
  return out;
}

/**
 * Observations of a poll without a valid answer (`unresponsive`, `bad-reply`): only when that
 * kind is in `notifyOn`, every application of the server's mandatory services (as its last
 * answer listed them) is observed down; otherwise nothing is observed and states hold.
 */
export function observeSilence(last: Compilation | undefined, d: Deficiency, settings: HealthSettings): Map<string, Observation> | undefined {
  if (!last || !settings.notifyOn.has(d.kind)) return undefined;
  const out = new Map<string, Observation>();
  for (const s of last.services) {
    if (!s.mandatory) continue;
    for (const app of s.applications) out.set(app, { down: true, components: [d.kind], detail: `${d.kind}: ${d.detail}` });
  }
  return out;
}

function aggregate(health: AppHealth, app: string): { down: boolean; components: string[]; detail: string } {
  const components: string[] = [];
  const details: string[] = [];
  for (const [serverId, apps] of Object.entries(health.pairs)) {
    const p = apps[app];
    if (!p?.down) continue;
    for (const c of p.components) components.push(`${serverId}/${c}`);
    if (p.detail) details.push(`${serverId}: ${p.detail}`);
  }
  components.sort();
  return { down: components.length > 0 || details.length > 0, components, detail: details.join('; ') };
}

/** Whether a server has a result that disagrees with its confirmed state and awaits confirmation. */
export function hasPending(health: AppHealth, serverId: string): boolean {
  return Object.values(health.pairs[serverId] ?? {}).some((p) => p.streak > 0);
}

/** Drops a server altogether (decommissioned): what it alone held down comes back at once. */
export function forgetServer(prev: AppHealth, serverId: string): { health: AppHealth; changes: AppChange[] } {
  const apps = Object.keys(prev.pairs[serverId] ?? {});
  const pairs = { ...prev.pairs };
  delete pairs[serverId];
  return publishChanges({ pairs, published: { ...prev.published } }, apps);
}

/**
 * Records one server's observations (pure; returns a new state). Applications the server no
 * longer reports on count as observed up. Returns the applications whose aggregate changed.
 */
export function recordObservations(prev: AppHealth, serverId: string, observations: Map<string, Observation>, settings: HealthSettings): { health: AppHealth; changes: AppChange[] } {
  const before = prev.pairs[serverId] ?? {};
  const after: Record<string, PairState> = {};
  const touched = new Set<string>([...Object.keys(before), ...observations.keys()]);
  for (const app of touched) {
    const o = observations.get(app) ?? { down: false, components: [], detail: '' };
    const p = before[app] ?? { down: false, streak: 0, components: [], detail: '' };
    let next: PairState;
    if (o.down === p.down) next = { down: p.down, streak: 0, components: o.down ? o.components : [], detail: o.down ? o.detail : '' };
    else if (p.streak + 1 >= settings.notifyAfter) next = { down: o.down, streak: 0, components: o.down ? o.components : [], detail: o.down ? o.detail : '' };
    else next = { ...p, streak: p.streak + 1 };
    if (next.down || next.streak > 0) after[app] = next;
  }
  const pairs = { ...prev.pairs };
  if (Object.keys(after).length > 0) pairs[serverId] = after;
  else delete pairs[serverId];
  return publishChanges({ pairs, published: { ...prev.published } }, touched);
}

/** Compares each application's aggregate with what was published; updates `published` in place. */
function publishChanges(health: AppHealth, apps: Iterable<string>): { health: AppHealth; changes: AppChange[] } {
  const changes: AppChange[] = [];
  for (const app of apps) {
    const agg = aggregate(health, app);
    const was = health.published[app];
    const wasDown = was?.down ?? false;
    if (agg.down === wasDown && (!agg.down || sameList(agg.components, was?.components ?? []))) continue;
    changes.push({ application: app, available: !agg.down, components: agg.components, detail: agg.detail });
    if (agg.down) health.published[app] = { down: true, components: agg.components };
    else delete health.published[app];
  }
  return { health, changes };
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
