import type { Compilation, Deficiency, DeficiencyKind } from './compilation';

/**
 * The poller's lists as a pure function of what each poll found. Level 0 is the normal list;
 * levels 1.. are the critical list, polled at ever faster intervals. A poll with a deficiency of
 * an escalating kind moves the server one level faster (up to the fastest); a poll with no
 * deficiency at all returns it to the normal list; anything else keeps it where it is, so a
 * critical server stays critical until every deficiency has cleared.
 */

export interface PollSettings {
  /** `[normal, critical, faster...]`, each faster than the one before. */
  intervalsMs: number[];
  /** Deficiency kinds that move a server towards the critical list (list-transfer settings). */
  escalateOn: ReadonlySet<DeficiencyKind>;
  /** Named services whose deficiency of any kind moves it there too (e.g. a directory service a warning already makes critical). */
  escalateServices?: ReadonlySet<string>;
}

export type ListName = 'normal' | 'critical';

export interface ServerRecord {
  id: string;
  level: number;
  deficiencies: Deficiency[];
  /** Master-clock ms of the next poll due. */
  nextPollAt: number;
  lastPolledAt?: number;
  lastAnswerAt?: number;
  /** Last valid compilation received. */
  lastCompilation?: Compilation;
  /** Consecutive polls without a valid answer. */
  failures: number;
  /** Last clock estimate and correction. */
  clock?: { offsetMs: number; networkRttMs: number; at: number; corrected?: number; ignored?: string };
  /** Master-clock ms when the server last changed list. */
  listSince: number;
}

export type PollOutcome =
  | { ok: true; compilation: Compilation; deficiencies: Deficiency[] }
  | { ok: false; deficiency: Deficiency };

export interface PollChange {
  listChanged: boolean;
  deficienciesChanged: boolean;
}

export function listOf(level: number): ListName {
  return level === 0 ? 'normal' : 'critical';
}

export function newServerRecord(id: string, now: number): ServerRecord {
  return { id, level: 0, deficiencies: [], nextPollAt: now, failures: 0, listSince: now };
}

/** The level after a poll that found `deficiencies`. */
export function nextLevel(level: number, deficiencies: readonly Deficiency[], settings: PollSettings): number {
  if (deficiencies.length === 0) return 0;
  const fastest = settings.intervalsMs.length - 1;
  const escalates = (d: Deficiency): boolean => settings.escalateOn.has(d.kind) || (d.service !== undefined && settings.escalateServices?.has(d.service) === true);
  if (deficiencies.some(escalates)) return Math.min(level + 1, fastest);
  return Math.min(level, fastest);
}

/** Identity of a deficiency for change detection: kind and service, not the detail text. */
export function deficiencyKey(d: Deficiency): string {
  return `${d.kind}|${d.service ?? ''}`;
}

function sameDeficiencies(a: readonly Deficiency[], b: readonly Deficiency[]): boolean {
  if (a.length !== b.length) return false;
  const keys = new Set(a.map(deficiencyKey));
  return b.every((d) => keys.has(deficiencyKey(d)));
}

/** Applies one poll's outcome to a server's record (pure): new record plus what changed. */
export function applyPoll(record: ServerRecord, outcome: PollOutcome, settings: PollSettings, now: number): { record: ServerRecord; change: PollChange } {
  const deficiencies = outcome.ok ? outcome.deficiencies : [outcome.deficiency];
  const level = nextLevel(record.level, deficiencies, settings);
  const listChanged = listOf(level) !== listOf(record.level);
  const next: ServerRecord = {
    ...record,
    level,
    deficiencies,
    lastPolledAt: now,
    nextPollAt: now + settings.intervalsMs[level],
    failures: outcome.ok ? 0 : record.failures + 1,
    listSince: listChanged ? now : record.listSince,
  };
  if (outcome.ok) {
    next.lastAnswerAt = now;
    next.lastCompilation = outcome.compilation;
  }
  return { record: next, change: { listChanged, deficienciesChanged: !sameDeficiencies(record.deficiencies, deficiencies) } };
}

/** Servers due at `now`, most overdue first (pure). */
export function dueServers(records: Iterable<ServerRecord>, now: number): ServerRecord[] {
  const due: ServerRecord[] = [];
  for (const r of records) if (r.nextPollAt <= now) due.push(r);
  return due.sort((a, b) => a.nextPollAt - b.nextPollAt || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Why an interval list (normal, critical, faster levels) makes no sense, or undefined when it is fine. */
export function validIntervals(intervalsMs: number[]): string | undefined {
  if (intervalsMs.length < 2) return 'needs at least two intervals: normal, critical';
  for (let i = 0; i < intervalsMs.length; i++) {
    if (!Number.isFinite(intervalsMs[i]) || intervalsMs[i] < 10) return `interval ${intervalsMs[i]} is not a number of ms ≥ 10`;
    if (i > 0 && intervalsMs[i] >= intervalsMs[i - 1]) return 'each interval must be shorter than the one before it';
  }
  return undefined;
}
