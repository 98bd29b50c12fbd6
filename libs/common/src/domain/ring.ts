/**
 * The buddy ring as pure functions over the server table: every node watches its two buddies,
 * and joins, deaths and leaves are local surgery on the cycle. The Redis repository applies these
 * functions inside an optimistic transaction, so this file is the only definition of the rules.
 */

export interface RingRow {
  address: string;
  /** Null only for a node alone. */
  buddyA: string | null;
  buddyB: string | null;
}

export type RingTable = Readonly<Record<string, Readonly<RingRow>>>;

function replaceBuddy(row: RingRow, old: string, next: string, preferB = false): RingRow {
  if (preferB && row.buddyB === old) return { ...row, buddyB: next };
  if (row.buddyA === old) return { ...row, buddyA: next };
  if (row.buddyB === old) return { ...row, buddyB: next };
  return row;
}

/**
 * A starting node joins next to `next`: it takes that node and that node's buddy A as its
 * buddies, and those two replace each other with it. Alone, it has no buddies; the second node
 * and the first are each other's. Announcing a node already in the table only updates its address.
 */
export function announce(table: RingTable, id: string, address: string, next: string | undefined): Record<string, RingRow> {
  const out: Record<string, RingRow> = { ...table };
  if (out[id]) {
    out[id] = { ...out[id], address };
    return out;
  }
  const ids = Object.keys(table);
  if (ids.length === 0) {
    out[id] = { address, buddyA: null, buddyB: null };
    return out;
  }
  const x = next !== undefined && table[next] ? next : ids.sort()[0];
  if (ids.length === 1) {
    out[x] = { ...table[x], buddyA: id, buddyB: id };
    out[id] = { address, buddyA: x, buddyB: x };
    return out;
  }
  const y = table[x].buddyA as string;
  out[id] = { address, buddyA: x, buddyB: y };
  out[x] = replaceBuddy(table[x], y, id);
  // y may hold x twice (a ring of two): replace the occurrence x did not just use.
  out[y] = replaceBuddy(table[y], x, id, true);
  return out;
}

export interface Removal {
  table: Record<string, RingRow>;
  /** The dead node's buddies, now each other's (absent when it was not in the table). */
  buddies?: [string | null, string | null];
}

/** A dead (or leaving) node is cut out: its two buddies become buddies of each other. */
export function remove(table: RingTable, id: string): Removal {
  const row = table[id];
  if (!row) return { table: { ...table } };
  const out: Record<string, RingRow> = { ...table };
  delete out[id];
  const rest = Object.keys(out);
  const p = row.buddyA;
  const q = row.buddyB;
  if (rest.length === 1) {
    out[rest[0]] = { ...out[rest[0]], buddyA: null, buddyB: null };
  } else if (rest.length >= 2 && p && q) {
    if (out[p]) out[p] = replaceBuddy(out[p], id, q);
    if (out[q]) out[q] = replaceBuddy(out[q], id, p, true);
  }
  return { table: out, buddies: [p, q] };
}

/** A node replaces one buddy with another in its own row (the "replace" message). */
export function replace(table: RingTable, id: string, old: string, next: string): Record<string, RingRow> {
  const out: Record<string, RingRow> = { ...table };
  if (out[id] && old !== next) out[id] = replaceBuddy(out[id], old, next);
  return out;
}

/** The ids in cycle order, following buddy links from the smallest id; null when not one cycle. */
export function cycleOrder(table: RingTable): string[] | null {
  const ids = Object.keys(table).sort();
  if (ids.length === 0) return [];
  if (ids.length === 1) return table[ids[0]].buddyA === null && table[ids[0]].buddyB === null ? ids : null;
  const order = [ids[0]];
  let prev: string | null = null;
  let cur = ids[0];
  for (;;) {
    const row = table[cur];
    const next: string | null = prev === null || row.buddyA !== prev ? row.buddyA : row.buddyB;
    if (next === null || !table[next]) return null;
    if (next === ids[0]) break;
    if (order.includes(next)) return null;
    order.push(next);
    prev = cur;
    cur = next;
  }
  return order.length === ids.length ? order : null;
}

/**
 * A valid table: one node without buddies; two nodes each other's; three or more, every node with
 * two distinct buddies that list it back, and following the links visits every node once.
 */
export function isValidRing(table: RingTable): boolean {
  const ids = Object.keys(table);
  if (ids.length <= 1) return cycleOrder(table) !== null;
  for (const id of ids) {
    const { buddyA, buddyB } = table[id];
    if (!buddyA || !buddyB || buddyA === id || buddyB === id || !table[buddyA] || !table[buddyB]) return false;
    if (ids.length > 2 && buddyA === buddyB) return false;
    for (const b of [buddyA, buddyB]) if (table[b].buddyA !== id && table[b].buddyB !== id) return false;
  }
  return cycleOrder(table) !== null;
}
