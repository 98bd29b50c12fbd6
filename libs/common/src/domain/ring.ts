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

/** A node replaces one buddy with another in its own row, unchecked (the replace message goes through applyReplace). */
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

/** Why a replace message is refused (see checkReplace). */
export type ReplaceRefusal = 'sender-not-a-party' | 'receiver-not-in-table' | 'old-still-in-table' | 'next-not-in-table';

/**
 * What the table says of a replace message: refused, with why; or accepted, and then whether it
 * changes this node's row (`changes`: only when the row still names `old`, a node the table no
 * longer holds) or leaves the table as it is (the usual case: the cut or the leave that caused
 * the message already relinked both buddies in the same transaction).
 */
export type ReplaceVerdict = { ok: true; changes: boolean; message: string } | { ok: false; reason: ReplaceRefusal; message: string };

/**
 * Whether node `me` may take `next` instead of `old` among its buddies at the word of `sender`
 * (undefined when nobody is named: an operator's token, or FARM_AUTH=off). Only a real buddy's
 * change passes: the two messages the ring sends are a cut (`next`, the node that cut out the
 * dead `old`, tells the dead node's other buddy) and a leave (`old`, leaving, tells each of its
 * buddies), both sent after the table lost `old` and linked `me` with `next`. So the sender must
 * be `old` or `next`; `old` must be gone from the table (a live node is never dropped at someone's
 * word); `next` and `me` must be in it. A message that comes after the table moved on (`old`
 * back, `next` or `me` gone) is refused and changes nothing: the table is the truth, and each
 * watcher round reads it afresh.
 */
export function checkReplace(table: RingTable, me: string, old: string, next: string, sender?: string): ReplaceVerdict {
  if (sender !== undefined && sender !== old && sender !== next) {
    return { ok: false, reason: 'sender-not-a-party', message: `${sender} may not replace ${old} with ${next}: only ${old} (leaving) or ${next} (having cut ${old} out) may` };
  }
  const row = table[me];
  if (!row) return { ok: false, reason: 'receiver-not-in-table', message: `${me} is not in the ring table` };
  if (table[old]) return { ok: false, reason: 'old-still-in-table', message: `${old} is still in the ring table: a live node is not replaced` };
  if (!table[next]) return { ok: false, reason: 'next-not-in-table', message: `${next} is not in the ring table` };
  if (next === me) return { ok: true, changes: false, message: `${me} is not its own buddy: nothing to change` };
  if (row.buddyA === next || row.buddyB === next) return { ok: true, changes: false, message: `the table already links ${me} with ${next}` };
  if (row.buddyA === old || row.buddyB === old) return { ok: true, changes: true, message: `${me} takes ${next} instead of ${old}` };
  return { ok: true, changes: false, message: `${me} no longer lists ${old}: the table has moved on` };
}

/** The replace message as the table allows it: the verdict, and the table after it (a new object either way). */
export function applyReplace(table: RingTable, me: string, old: string, next: string, sender?: string): { table: Record<string, RingRow>; verdict: ReplaceVerdict } {
  const verdict = checkReplace(table, me, old, next, sender);
  return { table: verdict.ok && verdict.changes ? replace(table, me, old, next) : { ...table }, verdict };
}
