/**
 * One target's entries by request kind. Most targets have one or two kinds, and a Map costs
 * about 250 bytes even holding one entry, so a table is a short array (scanned; kinds are
 * interned, so each comparison is usually a pointer check) and becomes a Map past
 * KIND_ARRAY_MAX kinds. At most one entry per kind.
 */
export type KindTable<T extends Kinded> = T[] | Map<string, T>;

export interface Kinded {
  readonly kind: string;
}

/** Kinds held in an array before the table becomes a Map. */
export const KIND_ARRAY_MAX = 8;

export function kindGet<T extends Kinded>(table: KindTable<T>, kind: string): T | undefined {
  if (table instanceof Map) return table.get(kind);
  for (let i = 0; i < table.length; i++) if (table[i].kind === kind) return table[i];
  return undefined;
}

/** The table with `item` as the entry of its kind (replacing any other); may be a new table. */
export function kindSet<T extends Kinded>(table: KindTable<T> | undefined, item: T): KindTable<T> {
  const kind = item.kind;
  if (table === undefined) return [item];
  if (table instanceof Map) return table.set(kind, item);
  for (let i = 0; i < table.length; i++) {
    if (table[i].kind === kind) {
      table[i] = item;
      return table;
    }
  }
  if (table.length < KIND_ARRAY_MAX) {
    table.push(item);
    return table;
  }
  const map = new Map<string, T>();
  for (const t of table) map.set(t.kind, t);
  return map.set(kind, item);
}

/** Removes `item` if it is (this very object) the entry of its kind; whether it was. */
export function kindDelete<T extends Kinded>(table: KindTable<T>, item: T): boolean {
  const kind = item.kind;
  if (table instanceof Map) return table.get(kind) === item && table.delete(kind);
  const i = table.indexOf(item);
  if (i < 0) return false;
  table.splice(i, 1);
  return true;
}

export function kindCount<T extends Kinded>(table: KindTable<T>): number {
  return table instanceof Map ? table.size : table.length;
}
