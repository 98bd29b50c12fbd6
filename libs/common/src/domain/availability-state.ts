import { createHash } from 'node:crypto';
import { fnv1a32, hash64 } from './hashing';
import { AVAILABLE, Decidable, Decision, decide, greater } from './lookup';
import { ALL_KINDS, Entry, SYSTEM_TARGET, canonicalEntry, keyOf, serializeEntry } from './notification';

/** Number of digest leaves; a power of two. Keys fall into leaves by a hash of the key. */
export const LEAVES = 4096;

/** An entry with everything the hot paths need precomputed. */
export interface StoredEntry extends Decidable {
  entry: Entry;
  leaf: number;
  keyHash: number;
  h0: number;
  h1: number;
}

interface Slot {
  all?: StoredEntry;
  byKind?: Map<string, StoredEntry>;
}

function parseTime(iso: string | undefined): number {
  return iso === undefined ? NaN : Date.parse(iso);
}

export function storeEntry(raw: Entry): StoredEntry {
  const entry = canonicalEntry(raw);
  const key = keyOf(entry);
  const json = serializeEntry(entry);
  const keyHash = fnv1a32(key);
  const [h0, h1] = hash64(json);
  const down: Decision = Object.freeze({
    available: false,
    reason: entry.reason ?? 'unknown',
    ...(entry.message !== undefined ? { message: entry.message } : {}),
    ...(entry.component !== undefined ? { component: entry.component } : {}),
    ...(entry.expectedUpAt !== undefined ? { expectedUpAt: entry.expectedUpAt } : {}),
    decidedBy: { key, id: entry.id },
  });
  const scheduled: Decision = Object.freeze({
    available: true,
    scheduled: true,
    downAt: entry.downAt,
    reason: entry.reason ?? 'unknown',
    ...(entry.expectedUpAt !== undefined ? { expectedUpAt: entry.expectedUpAt } : {}),
    decidedBy: { key, id: entry.id },
  });
  return {
    entry,
    key,
    json,
    keyHash,
    leaf: keyHash & (LEAVES - 1),
    h0,
    h1,
    ts: parseTime(entry.timestamp),
    id: entry.id,
    available: entry.available,
    downAtMs: parseTime(entry.downAt),
    upAtMs: parseTime(entry.expectedUpAt),
    autoRestore: entry.autoRestore === true,
    down,
    scheduled,
  };
}

/**
 * The in-process availability state of one node: last-writer-wins entries, an index for
 * synchronous lookups (a few Map.get calls, no allocation), and XOR digests per leaf that are
 * maintained incrementally so two nodes can find where they differ without sending everything.
 */
export class AvailabilityState {
  private readonly leaves: Map<string, StoredEntry>[] = Array.from({ length: LEAVES }, () => new Map());
  private readonly leafHash = new Uint32Array(LEAVES * 2);
  private readonly apps = new Map<string, Slot>();
  private readonly resources = new Map<string, Slot>();
  private deps = new Map<string, Slot[]>();
  private depNames = new Map<string, string[]>();
  private size = 0;
  private digestCache: string | undefined;

  constructor(dependencies: Record<string, string[]> = {}) {
    this.setDependencies(dependencies);
  }

  get count(): number {
    return this.size;
  }

  /** Which resources each application depends on (from configuration). */
  setDependencies(dependencies: Record<string, string[]>): void {
    this.depNames = new Map(Object.entries(dependencies).map(([app, rs]) => [app, [...new Set(rs)]]));
    this.deps = new Map();
    for (const [app, rs] of this.depNames) this.deps.set(app, rs.map((r) => this.slot(this.resources, r)));
  }

  dependenciesOf(application: string): string[] {
    return this.depNames.get(application) ?? [];
  }

  get(key: string): StoredEntry | undefined {
    return this.leaves[fnv1a32(key) & (LEAVES - 1)].get(key);
  }

  /** Merges one entry; returns the stored entry when it changed the state, else undefined. */
  apply(raw: Entry | StoredEntry): StoredEntry | undefined {
    const s = 'leaf' in raw && 'json' in raw ? (raw as StoredEntry) : storeEntry(raw as Entry);
    const leaf = this.leaves[s.leaf];
    const cur = leaf.get(s.key);
    if (cur !== undefined && !greater(s, cur)) return undefined;
    leaf.set(s.key, s);
    if (cur !== undefined) {
      this.leafHash[s.leaf * 2] ^= cur.h0;
      this.leafHash[s.leaf * 2 + 1] ^= cur.h1;
    } else {
      this.size++;
    }
    this.leafHash[s.leaf * 2] ^= s.h0;
    this.leafHash[s.leaf * 2 + 1] ^= s.h1;
    this.index(s);
    this.digestCache = undefined;
    return s;
  }

  private slot(map: Map<string, Slot>, target: string): Slot {
    let slot = map.get(target);
    if (slot === undefined) {
      slot = {};
      map.set(target, slot);
    }
    return slot;
  }

  private index(s: StoredEntry): void {
    const slot = this.slot(s.entry.targetType === 'resource' ? this.resources : this.apps, s.entry.target);
    if (s.entry.kind === ALL_KINDS) slot.all = s;
    else (slot.byKind ??= new Map()).set(s.entry.kind, s);
  }

  /**
   * Synchronous lookup of the contract: entries for the application, the resources it depends
   * on and the whole system, for this kind or all kinds; the greatest decides.
   */
  check(application: string, kind: string = ALL_KINDS, now: number = Date.now()): Decision {
    let best: StoredEntry | undefined;
    const consider = (slot: Slot | undefined): void => {
      if (slot === undefined) return;
      const a = slot.all;
      if (a !== undefined && (best === undefined || greater(a, best))) best = a;
      if (kind !== ALL_KINDS && slot.byKind !== undefined) {
        const k = slot.byKind.get(kind);
        if (k !== undefined && (best === undefined || greater(k, best))) best = k;
      }
    };
    consider(this.apps.get(application));
    const deps = this.deps.get(application);
    if (deps !== undefined) for (let i = 0; i < deps.length; i++) consider(deps[i]);
    consider(this.apps.get(SYSTEM_TARGET));
    return best === undefined ? AVAILABLE : decide(best, now);
  }

  /** Lookup of a resource on its own (entries for it and for the whole system). */
  checkResource(resource: string, kind: string = ALL_KINDS, now: number = Date.now()): Decision {
    let best: StoredEntry | undefined;
    for (const slot of [this.resources.get(resource), this.apps.get(SYSTEM_TARGET)]) {
      if (slot === undefined) continue;
      for (const c of [slot.all, kind !== ALL_KINDS ? slot.byKind?.get(kind) : undefined]) {
        if (c !== undefined && (best === undefined || greater(c, best))) best = c;
      }
    }
    return decide(best, now);
  }

  *stored(): IterableIterator<StoredEntry> {
    for (const leaf of this.leaves) yield* leaf.values();
  }

  entries(): Entry[] {
    return [...this.stored()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((s) => s.entry);
  }

  /** Entries of the given leaves. */
  inLeaves(leaves: Iterable<number>): StoredEntry[] {
    const out: StoredEntry[] = [];
    for (const l of leaves) for (const s of this.leaves[l].values()) out.push(s);
    return out;
  }

  /** Non-zero leaf digests, as `{leaf: 16 hex chars}`. */
  leafDigests(): Record<number, string> {
    const out: Record<number, string> = {};
    for (let l = 0; l < LEAVES; l++) {
      const a = this.leafHash[l * 2];
      const b = this.leafHash[l * 2 + 1];
      if (a !== 0 || b !== 0) out[l] = a.toString(16).padStart(8, '0') + b.toString(16).padStart(8, '0');
    }
    return out;
  }

  /** Hash of the whole state: equal on two nodes exactly when they hold the same entries. */
  digest(): string {
    if (this.digestCache === undefined) {
      this.digestCache = createHash('sha256').update(Buffer.from(this.leafHash.buffer)).digest('hex');
    }
    return this.digestCache;
  }
}

export { AVAILABLE };
