import type { Alternate } from './alternates';

/**
 * Zones of a load score (0 best, 100 worst) between two thresholds: failover F (at or beyond it,
 * current clients are deferred) and connection C (below it, new clients are accepted). Where C
 * sits against F gives the arrangement:
 *
 *   C < F  'hold-middle':  [0, C) accept | [C, F) hold: keep current, refuse new | [F, 100] defer
 *   C = F  'two-zones':    [0, F) accept | [F, 100] defer
 *   C > F  'brief-middle': [0, F) accept | [F, C) brief: defer current, admit new then defer them
 *                          after a while | [C, 100] defer
 *
 * A threshold is reached at its value (a score equal to F defers). Pure.
 */

export type Zone = 'accept' | 'hold' | 'brief' | 'defer';
export type Arrangement = 'hold-middle' | 'two-zones' | 'brief-middle';

/** Better zones first; hold and brief are both the middle. */
export const ZONE_RANK: Readonly<Record<Zone, number>> = { accept: 0, hold: 1, brief: 1, defer: 2 };

export interface Thresholds {
  failover: number;
  connection: number;
}

export function arrangementOf(t: Thresholds): Arrangement {
  if (t.connection < t.failover) return 'hold-middle';
  return t.connection === t.failover ? 'two-zones' : 'brief-middle';
}

/** The zone of a score, without hysteresis. */
export function zoneOf(score: number, t: Thresholds): Zone {
  if (score < Math.min(t.connection, t.failover)) return 'accept';
  if (score >= Math.max(t.connection, t.failover)) return 'defer';
  return t.connection < t.failover ? 'hold' : 'brief';
}

/**
 * The zone after a new score, with hysteresis: a worse zone is entered as soon as its threshold
 * is reached, but a zone is left for a better one only once the score is below that better
 * zone's bound by `margin`. A score moving within less than `margin` therefore changes the zone
 * in one direction only, however it wavers. Without a previous zone it is the plain zone.
 */
export function nextZone(prev: Zone | undefined, score: number, t: Thresholds, margin: number): Zone {
  const plain = zoneOf(score, t);
  if (prev === undefined || ZONE_RANK[plain] >= ZONE_RANK[prev]) return plain;
  const withMargin = zoneOf(score + margin, t);
  return ZONE_RANK[withMargin] < ZONE_RANK[prev] ? withMargin : prev;
}

/** What a zone means for the clients already connected and for those asking to connect. */
export interface ZoneActions {
  acceptNew: boolean;
  deferCurrent: boolean;
  /** New clients accepted in this zone are deferred after the configured time. */
  deferNewLater: boolean;
}

export function zoneActions(zone: Zone): ZoneActions {
  switch (zone) {
    case 'accept': return { acceptNew: true, deferCurrent: false, deferNewLater: false };
    case 'hold': return { acceptNew: false, deferCurrent: false, deferNewLater: false };
    case 'brief': return { acceptNew: true, deferCurrent: true, deferNewLater: true };
    case 'defer': return { acceptNew: false, deferCurrent: true, deferNewLater: false };
  }
}

/** Thresholds of a group promised other service (lower: it moves earlier), and of previously deferred clients. */
export interface ThresholdOverrides {
  failover?: number;
  connection?: number;
  /** Connection threshold for a client this server deferred before (C'). */
  reconnection?: number;
}

export interface ZoneSettings {
  thresholds: Required<Thresholds> & { reconnection?: number };
  groups: Readonly<Record<string, ThresholdOverrides>>;
  /** Hysteresis margin, in score points. */
  margin: number;
  /** How long a client admitted in the brief zone may stay before it is deferred. */
  briefMs: number;
}

/**
 * The thresholds that apply to a client: its group's where the group sets them, the defaults
 * otherwise; a previously deferred client's connection threshold is the reconnection one (the
 * group's, else the default's) when one is set.
 */
export function thresholdsFor(s: ZoneSettings, group?: string, returning = false): Thresholds {
  const g = (group !== undefined && Object.prototype.hasOwnProperty.call(s.groups, group) ? s.groups[group] : undefined) ?? {};
  const failover = g.failover ?? s.thresholds.failover;
  const connection = g.connection ?? s.thresholds.connection;
  const reconnection = g.reconnection ?? s.thresholds.reconnection;
  return { failover, connection: returning && reconnection !== undefined ? reconnection : connection };
}

/** Key of one hysteresis track: the group (`*` for the defaults) and whether it is for returning clients. */
export function zoneKey(group: string | undefined, returning: boolean): string {
  return `${group ?? '*'}${returning ? ':returning' : ''}`;
}

/** Every track the settings define: one per group and the defaults, each for new and for returning clients. */
export function zoneKeys(s: ZoneSettings): { key: string; group?: string; returning: boolean }[] {
  const groups: (string | undefined)[] = [undefined, ...Object.keys(s.groups).sort()];
  return groups.flatMap((group) => [false, true].map((returning) => ({ key: zoneKey(group, returning), group, returning })));
}

/** One step of every track's hysteresis for a new score. */
export function nextZones(prev: Readonly<Record<string, Zone>>, score: number, s: ZoneSettings): Record<string, Zone> {
  const out: Record<string, Zone> = {};
  for (const { key, group, returning } of zoneKeys(s)) out[key] = nextZone(prev[key], score, thresholdsFor(s, group, returning), s.margin);
  return out;
}

/** The answer to a client that asks to connect. */
export type ConnectDecision =
  | { kind: 'accept' }
  | { kind: 'accept-then-defer'; afterMs: number }
  | { kind: 'refuse'; zone: Zone; alternates: Alternate[] };

/** What the zone (of the client's track) says to a client asking to connect. */
export function decideConnect(zone: Zone, briefMs: number, alternates: readonly Alternate[]): ConnectDecision {
  const a = zoneActions(zone);
  if (!a.acceptNew) return { kind: 'refuse', zone, alternates: [...alternates] };
  return a.deferNewLater ? { kind: 'accept-then-defer', afterMs: briefMs } : { kind: 'accept' };
}
