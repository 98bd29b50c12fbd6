import { createHash } from 'node:crypto';
import { fnv1a32, hash64 } from './hashing';
import { KindTable, kindCount, kindDelete, kindGet, kindSet } from './kind-table';
import { AVAILABLE, Decidable, Decision, decide, greater } from './lookup';
import { ALL_KINDS, Entry, Notification, Reason, SYSTEM_TARGET, Source, TargetType, canonicalEntry, entryKey, intern, serializeEntry } from './notification';

/** Number of digest leaves; a power of two. Keys fall into leaves by a hash of the key. */
export const LEAVES = 4096;

/**
 * An entry as a node holds it: the entry's own fields, under their own names and already in
 * canonical form (what canonicalEntry makes of them), with what the hot paths need precomputed
 * beside them, in one object. (It used to keep the entry as a second object; at 100,000 entries
 * that object and its out-of-object property array were 18 MB.) `entry` builds the plain entry on
 * use; `json` its canonical bytes.
 */
export class StoredEntry implements Decidable {
  readonly keyHash: number;
  readonly h0: number;
  readonly h1: number;
  readonly ts: number;
  readonly downAtMs: number | undefined;
  readonly upAtMs: number | undefined;
  readonly targetType: TargetType;
  readonly target: string;
  readonly kind: string;
  readonly available: boolean;
  readonly reason: Reason | undefined;
  readonly component: string | undefined;
  readonly message: string | undefined;
  readonly operatorId: string | undefined;
  readonly source: Source;
  readonly downAt: string | undefined;
  readonly expectedUpAt: string | undefined;
  readonly autoRestore: boolean | undefined;
  readonly timestamp: string;
  readonly id: string;
  readonly priority: number;
  private decisions?: { down?: Decision; scheduled?: Decision };

  /** Takes an entry in any form and holds it canonical, by the rules of canonicalEntry; `src` is not kept. */
  constructor(src: Entry | (Notification & { kind: string })) {
    this.targetType = src.target === SYSTEM_TARGET ? 'application' : intern(src.targetType);
    this.target = src.target;
    this.kind = intern(src.kind);
    this.available = src.available;
    this.reason = src.available ? undefined : intern(src.reason ?? 'unknown');
    this.component = src.component;
    this.message = src.message;
    this.operatorId = src.operatorId;
    this.source = intern(src.source);
    this.downAt = src.downAt;
    this.expectedUpAt = src.expectedUpAt;
    this.autoRestore = src.autoRestore;
    this.timestamp = src.timestamp;
    this.id = src.id;
    this.priority = src.priority;
    // Hashes kept as int32 (| 0), not uint32: V8 then holds them in the object as small integers
    // instead of a boxed double each (16 bytes apiece, 100,000 entries). Their bits are the same.
    this.keyHash = fnv1a32(this.key) | 0;
    const [h0, h1] = hash64(this.json);
    this.h0 = h0 | 0;
    this.h1 = h1 | 0;
    this.ts = Date.parse(this.timestamp);
    this.downAtMs = parseTime(this.downAt);
    this.upAtMs = parseTime(this.expectedUpAt);
  }

  /** Whether its decision depends on the clock (worked out on use: a field would be 0.8 MB at 100,000 entries). */
  get timed(): boolean {
    return this.downAtMs !== undefined || (this.autoRestore === true && this.upAtMs !== undefined);
  }

  /** `targetType|target|kind`, built on use (the state indexes entries by target, then kind). */
  get key(): string {
    return entryKey(this.targetType, this.target, this.kind);
  }

  /** The digest leaf its key falls into. */
  get leaf(): number {
    return this.keyHash & (LEAVES - 1);
  }

  /** Canonical JSON (the bytes that are stored and hashed): its fields have the entry's names. */
  get json(): string {
    return serializeEntry(this as unknown as Entry);
  }

  /** The entry as a plain object, built on each call (its fields are already canonical, so this is a copy). */
  get entry(): Entry {
    return canonicalEntry(this as unknown as Entry);
  }

  canonical(): string {
    return this.json;
  }

  down(): Decision {
    const d = (this.decisions ??= {});
    return (d.down ??= Object.freeze({
      available: false,
      reason: this.reason ?? 'unknown',
      ...(this.message !== undefined ? { message: this.message } : {}),
      ...(this.component !== undefined ? { component: this.component } : {}),
      ...(this.expectedUpAt !== undefined ? { expectedUpAt: this.expectedUpAt } : {}),
      decidedBy: { key: this.key, id: this.id },
    }));
  }

  scheduled(): Decision {
    const d = (this.decisions ??= {});
    return (d.scheduled ??= Object.freeze({
      available: true,
      scheduled: true,
      downAt: this.downAt,
      reason: this.reason ?? 'unknown',
      ...(this.expectedUpAt !== undefined ? { expectedUpAt: this.expectedUpAt } : {}),
      decidedBy: { key: this.key, id: this.id },
    }));
  }
}

interface Slot {
  all?: StoredEntry;
  byKind?: KindTable<StoredEntry>;
}

/** Everything a lookup of one application reads, and its answers cached per kind. */
interface AppView {
  slots: Slot[];
  version: number;
  best: Map<string, StoredEntry | null>;
}

/** At most this many applications get a cached view (names come from requests). */
const MAX_VIEWS = 50_000;

/** Undefined when absent (no boxed NaN in every entry without a schedule); NaN when unreadable. */
function parseTime(iso: string | undefined): number | undefined {
  return iso === undefined ? undefined : Date.parse(iso);
}

export function storeEntry(raw: Entry): StoredEntry {
  return new StoredEntry(raw);
}

/**
 * The in-process availability state of one node: last-writer-wins entries, an index for
 * synchronous lookups (a few Map.get calls, no allocation), and XOR digests per leaf that are
 * maintained incrementally so two nodes can find where they differ without sending everything.
 */
export class AvailabilityState {
  private readonly leafHash = new Uint32Array(LEAVES * 2);
  /**
   * The entries of each digest leaf, in no order: what a handshake reads for the leaves that
   * differ, without walking the whole state. A plain array per leaf (1.5 MB of heap measured at
   * 100,000 entries; a Map per leaf cost several times that); a leaf holds count / 4096 entries,
   * so the scan that finds one to replace or drop is short.
   */
  private readonly leafEntries: StoredEntry[][] = Array.from({ length: LEAVES }, () => []);
  private readonly apps = new Map<string, Slot>();
  private readonly resources = new Map<string, Slot>();
  private depNames = new Map<string, string[]>();
  private readonly views = new Map<string, AppView>();
  private version = 0;
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
    this.views.clear();
    this.version++;
  }

  dependenciesOf(application: string): string[] {
    return this.depNames.get(application) ?? [];
  }

  get(key: string): StoredEntry | undefined {
    const [targetType, target, kind] = key.split('|');
    return this.find(targetType, target, kind);
  }

  /** The entry held for a key, found through the lookup index (there is no second index by key). */
  private find(targetType: string, target: string, kind: string): StoredEntry | undefined {
    const slot = (targetType === 'resource' ? this.resources : this.apps).get(target);
    if (slot === undefined) return undefined;
    if (kind === ALL_KINDS) return slot.all;
    return slot.byKind === undefined ? undefined : kindGet(slot.byKind, kind);
  }

  /** Merges one entry; returns the stored entry when it changed the state, else undefined. */
  apply(raw: Entry | StoredEntry): StoredEntry | undefined {
    const s = raw instanceof StoredEntry ? raw : storeEntry(raw);
    const cur = this.find(s.targetType, s.target, s.kind);
    if (cur !== undefined && !greater(s, cur)) return undefined;
    const leaf = s.leaf;
    const inLeaf = this.leafEntries[leaf];
    if (cur !== undefined) {
      this.leafHash[leaf * 2] ^= cur.h0;
      this.leafHash[leaf * 2 + 1] ^= cur.h1;
      inLeaf[inLeaf.indexOf(cur)] = s;
    } else {
      this.size++;
      inLeaf.push(s);
    }
    this.leafHash[leaf * 2] ^= s.h0;
    this.leafHash[leaf * 2 + 1] ^= s.h1;
    this.index(s);
    this.digestCache = undefined;
    this.version++;
    return s;
  }

  /** Drops an entry (retention); returns whether it was there in exactly this version. */
  remove(s: StoredEntry): boolean {
    if (this.find(s.targetType, s.target, s.kind) !== s) return false;
    this.leafHash[s.leaf * 2] ^= s.h0;
    this.leafHash[s.leaf * 2 + 1] ^= s.h1;
    this.size--;
    const inLeaf = this.leafEntries[s.leaf];
    const at = inLeaf.indexOf(s);
    const last = inLeaf.pop() as StoredEntry;
    if (at < inLeaf.length) inLeaf[at] = last;
    const map = s.targetType === 'resource' ? this.resources : this.apps;
    const slot = map.get(s.target);
    if (slot !== undefined) {
      if (s.kind === ALL_KINDS) {
        if (slot.all === s) slot.all = undefined;
      } else if (slot.byKind !== undefined) {
        kindDelete(slot.byKind, s);
      }
      if (slot.all === undefined && (slot.byKind === undefined || kindCount(slot.byKind) === 0)) {
        // Views hold slots: forget them with the slot, or a later entry would go to a new slot they never see.
        map.delete(s.target);
        this.views.clear();
      }
    }
    this.digestCache = undefined;
    this.version++;
    return true;
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
    const slot = this.slot(s.targetType === 'resource' ? this.resources : this.apps, s.target);
    if (s.kind === ALL_KINDS) slot.all = s;
    else slot.byKind = kindSet(slot.byKind, s);
  }

  private view(application: string): AppView | undefined {
    let v = this.views.get(application);
    if (v === undefined) {
      if (this.views.size >= MAX_VIEWS) return undefined;
      const slots = [this.slot(this.apps, application), ...this.dependenciesOf(application).map((r) => this.slot(this.resources, r)), this.slot(this.apps, SYSTEM_TARGET)];
      v = { slots, version: this.version, best: new Map() };
      this.views.set(application, v);
    }
    return v;
  }

  private static bestOf(slots: Slot[], kind: string): StoredEntry | undefined {
    let best: StoredEntry | undefined;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[i];
      const a = slot.all;
      if (a !== undefined && (best === undefined || greater(a, best))) best = a;
      if (kind !== ALL_KINDS && slot.byKind !== undefined) {
        const k = kindGet(slot.byKind, kind);
        if (k !== undefined && (best === undefined || greater(k, best))) best = k;
      }
    }
    return best;
  }

  /**
   * Synchronous lookup of the contract: entries for the application, the resources it depends
   * on and the whole system, for this kind or all kinds; the greatest decides. The deciding entry
   * is cached per (application, kind) until the state changes, so a lookup is two Map.get calls
   * and reads the clock only when the deciding entry depends on it.
   */
  check(application: string, kind: string = ALL_KINDS, now?: number): Decision {
    const v = this.view(application);
    if (v === undefined) {
      const slots = [this.apps.get(application), ...this.dependenciesOf(application).map((r) => this.resources.get(r)), this.apps.get(SYSTEM_TARGET)].filter((x): x is Slot => x !== undefined);
      return decide(AvailabilityState.bestOf(slots, kind), now);
    }
    if (v.version !== this.version) {
      v.best.clear();
      v.version = this.version;
    }
    let best = v.best.get(kind);
    if (best === undefined) {
      best = AvailabilityState.bestOf(v.slots, kind) ?? null;
      v.best.set(kind, best);
    }
    return best === null ? AVAILABLE : decide(best, now);
  }

  /** Lookup of a resource on its own (entries for it and for the whole system). */
  checkResource(resource: string, kind: string = ALL_KINDS, now: number = Date.now()): Decision {
    let best: StoredEntry | undefined;
    for (const slot of [this.resources.get(resource), this.apps.get(SYSTEM_TARGET)]) {
      if (slot === undefined) continue;
      for (const c of [slot.all, kind !== ALL_KINDS && slot.byKind !== undefined ? kindGet(slot.byKind, kind) : undefined]) {
        if (c !== undefined && (best === undefined || greater(c, best))) best = c;
      }
    }
    return decide(best, now);
  }

  /** Every entry held (in no particular order). */
  *stored(): IterableIterator<StoredEntry> {
    for (const inLeaf of this.leafEntries) yield* inLeaf;
  }

  entries(): Entry[] {
    return [...this.stored()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)).map((s) => s.entry);
  }

  /** Entries of the given leaves (each leaf once, however often it is named). */
  inLeaves(leaves: Iterable<number>): StoredEntry[] {
    const seen = new Uint8Array(LEAVES);
    const out: StoredEntry[] = [];
    for (const l of leaves) {
      if (!Number.isInteger(l) || l < 0 || l >= LEAVES || seen[l] === 1) continue;
      seen[l] = 1;
      const inLeaf = this.leafEntries[l];
      for (let i = 0; i < inLeaf.length; i++) out.push(inLeaf[i]);
    }
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
