import { Entry, keyOf, serializeEntry } from './notification';

/** Milliseconds of an ISO-8601 timestamp; NaN-safe callers validate first. */
export function timeOf(iso: string): number {
  return Date.parse(iso);
}

/**
 * Total order of entries of one key: timestamp first, then id, then (only for two different
 * entries that share both, which well-behaved publishers never produce) their canonical bytes,
 * so that every node picks the same winner whatever the arrival order.
 */
export function compareEntries(a: Entry, b: Entry): number {
  const ta = timeOf(a.timestamp);
  const tb = timeOf(b.timestamp);
  if (ta !== tb) return ta < tb ? -1 : 1;
  if (a.id !== b.id) return a.id < b.id ? -1 : 1;
  const sa = serializeEntry(a);
  const sb = serializeEntry(b);
  return sa === sb ? 0 : sa < sb ? -1 : 1;
}

/** Last writer wins: the greater of two entries of the same key. */
export function newer(a: Entry | undefined, b: Entry): Entry {
  return a === undefined || compareEntries(b, a) > 0 ? b : a;
}

export type EntryMap = ReadonlyMap<string, Entry>;

/** Union merge of two states: for every key the greater entry. Commutative, associative, idempotent. */
export function mergeStates(a: EntryMap, b: EntryMap): Map<string, Entry> {
  const out = new Map(a);
  for (const [k, e] of b) out.set(k, newer(out.get(k), e));
  return out;
}

/** Folds a sequence of entries into a state, in any order, with the same result. */
export function foldEntries(entries: Iterable<Entry>, into: Map<string, Entry> = new Map()): Map<string, Entry> {
  for (const e of entries) {
    const k = keyOf(e);
    into.set(k, newer(into.get(k), e));
  }
  return into;
}
