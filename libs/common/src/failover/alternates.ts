import type { RingTable } from '../domain/ring';
import type { Zone } from './zones';

/**
 * Where a deferred or refused client may go: servers whose last published zone is accept, that
 * the ring's table holds as live, never the server that sends the list. On the client, its own
 * configured list stands in when a message brings none. Pure.
 */

export interface ServerRef {
  id: string;
  address: string;
}

export interface Alternate extends ServerRef {
  score: number;
}

/** What every attendant publishes about its server after each measure. */
export interface PublishedLoad extends ServerRef {
  score: number;
  zone: Zone;
  /** When it was published (ms, farm clock). */
  at: number;
  /** With per-group thresholds: the zone of every track (see zoneKey). */
  zones?: Record<string, Zone>;
}

export interface AlternateOptions {
  /** Reports older than this (against `now`) are not trusted: a server that stopped publishing may be in trouble. */
  maxAgeMs?: number;
  now?: number;
  /** At most this many (all by default). */
  limit?: number;
}

/**
 * The alternates `sender` may offer, best first (lowest score, then id): in accept, live in the
 * ring table, not the sender, with a report fresh enough when an age limit is given. A server
 * that published twice counts by its latest report.
 */
export function chooseAlternates(reports: readonly PublishedLoad[], table: RingTable, sender: string, options: AlternateOptions = {}): Alternate[] {
  const latest = new Map<string, PublishedLoad>();
  for (const r of reports) {
    const had = latest.get(r.id);
    if (!had || r.at > had.at) latest.set(r.id, r);
  }
  const fresh = (r: PublishedLoad): boolean => options.maxAgeMs === undefined || options.now === undefined || options.now - r.at <= options.maxAgeMs;
  const out = [...latest.values()]
    .filter((r) => r.id !== sender && r.zone === 'accept' && Object.prototype.hasOwnProperty.call(table, r.id) && fresh(r))
    .sort((a, b) => a.score - b.score || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
    .map(({ id, address, score }) => ({ id, address, score }));
  return options.limit === undefined ? out : out.slice(0, Math.max(0, options.limit));
}

/**
 * The servers a client tries, in order, after its server tells it to move: the message's list,
 * or when that offers nothing usable its own configured list; never the server it is leaving,
 * each once.
 */
export function clientAlternates(fromMessage: readonly ServerRef[], configured: readonly ServerRef[], leaving: string): ServerRef[] {
  const usable = (list: readonly ServerRef[]): ServerRef[] => {
    const seen = new Set<string>([leaving]);
    const out: ServerRef[] = [];
    for (const s of list) {
      if (seen.has(s.id)) continue;
      seen.add(s.id);
      out.push({ id: s.id, address: s.address });
    }
    return out;
  };
  const offered = usable(fromMessage);
  return offered.length > 0 ? offered : usable(configured);
}

/** Where a client may go when it starts or hears nothing: servers live in the ring table, in accept, by their latest fresh report; addresses as the table has them. */
export function routableServers(reports: readonly PublishedLoad[], table: RingTable, options: AlternateOptions & { exclude?: string } = {}): Alternate[] {
  return chooseAlternates(reports, table, options.exclude ?? '', options).map((a) => ({ ...a, address: table[a.id].address }));
}

/** The reports of the `<ns>:load` hash's values (malformed ones skipped). */
export function parsePublishedLoads(values: readonly string[]): PublishedLoad[] {
  const out: PublishedLoad[] = [];
  for (const v of values) {
    try {
      const r = JSON.parse(v) as Partial<PublishedLoad>;
      if (typeof r.id === 'string' && typeof r.address === 'string' && typeof r.score === 'number' && typeof r.zone === 'string' && typeof r.at === 'number') out.push(r as PublishedLoad);
    } catch {
      // Not a report: skipped.
    }
  }
  return out;
}
