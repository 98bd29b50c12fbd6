/** Pure types of the availability domain: no framework or I/O imports here. */

export const REASONS = ['unknown', 'maintenance', 'outage', 'testing'] as const;
export type Reason = (typeof REASONS)[number];
export const TARGET_TYPES = ['application', 'resource'] as const;
export type TargetType = (typeof TARGET_TYPES)[number];
export const SOURCES = ['operator', 'monitor'] as const;
export type Source = (typeof SOURCES)[number];

/** The whole system: an entry on this target applies to every application. */
export const SYSTEM_TARGET = '*';
/** Kind of an entry that applies to all request kinds. */
export const ALL_KINDS = '*';

/** A notification after ingress normalisation: id and timestamp are always present. */
export interface Notification {
  target: string;
  targetType: TargetType;
  available: boolean;
  reason?: Reason;
  component?: string;
  message?: string;
  operatorId?: string;
  source: Source;
  downAt?: string;
  expectedUpAt?: string;
  autoRestore?: boolean;
  requestKinds?: string[];
  timestamp: string;
  id: string;
  priority: number;
}

/**
 * One entry of the availability state: a notification projected on one request kind
 * (or on all kinds). Entries are keyed by (targetType, target, kind).
 */
export interface Entry {
  targetType: TargetType;
  target: string;
  kind: string;
  available: boolean;
  reason?: Reason;
  component?: string;
  message?: string;
  operatorId?: string;
  source: Source;
  downAt?: string;
  expectedUpAt?: string;
  autoRestore?: boolean;
  timestamp: string;
  id: string;
  priority: number;
}

export function entryKey(targetType: TargetType, target: string, kind: string): string {
  return `${targetType}|${target}|${kind}`;
}

export function keyOf(e: Entry): string {
  return entryKey(e.targetType, e.target, e.kind);
}

/** Splits a notification into its entries, one per request kind (or one for all kinds). */
export function toEntries(n: Notification): Entry[] {
  const kinds = n.requestKinds && n.requestKinds.length > 0 ? [...new Set(n.requestKinds)] : [ALL_KINDS];
  return kinds.map((kind) => canonicalEntry({ ...n, kind }));
}

/**
 * Shares one copy of each small, often repeated string (kinds, reasons, sources, types) among
 * all entries: JSON.parse gives every entry its own copies, which at 100,000 entries is megabytes.
 */
const interned = new Map<string, string>([...REASONS, ...TARGET_TYPES, ...SOURCES, ALL_KINDS].map((v) => [v, v]));
export function intern<T extends string>(v: T): T {
  const hit = interned.get(v);
  if (hit !== undefined) return hit as T;
  if (interned.size < 10_000 && v.length <= 64) interned.set(v, v);
  return v;
}

/**
 * Builds an entry with a fixed field order and without absent or irrelevant fields, so that the
 * same entry serialises to the same bytes on every node (digests depend on it).
 */
export function canonicalEntry(src: Entry | (Notification & { kind: string })): Entry {
  const e: Entry = {
    targetType: src.target === SYSTEM_TARGET ? 'application' : intern(src.targetType),
    target: src.target,
    kind: intern(src.kind),
    available: src.available,
    source: intern(src.source),
    timestamp: src.timestamp,
    id: src.id,
    priority: src.priority,
  };
  if (!src.available) e.reason = intern(src.reason ?? 'unknown');
  if (src.component !== undefined) e.component = src.component;
  if (src.message !== undefined) e.message = src.message;
  if (src.operatorId !== undefined) e.operatorId = src.operatorId;
  if (src.downAt !== undefined) e.downAt = src.downAt;
  if (src.expectedUpAt !== undefined) e.expectedUpAt = src.expectedUpAt;
  if (src.autoRestore !== undefined) e.autoRestore = src.autoRestore;
  return e;
}

const FIELD_ORDER: (keyof Entry)[] = [
  'targetType', 'target', 'kind', 'available', 'reason', 'component', 'message', 'operatorId',
  'source', 'downAt', 'expectedUpAt', 'autoRestore', 'timestamp', 'id', 'priority',
];

/** Deterministic JSON of an entry (fixed field order, absent fields omitted). */
export function serializeEntry(e: Entry): string {
  const out: Record<string, unknown> = {};
  for (const f of FIELD_ORDER) if (e[f] !== undefined) out[f] = e[f];
  return JSON.stringify(out);
}
