import { StoredEntry } from './availability-state';
import { hex32 } from './hashing';
import { Entry, serializeEntry } from './notification';

/**
 * Pure planning of the union-merge handshake. Round 1 compares leaf digests; round 2 compares
 * fingerprints (key hash + entry hash) inside the differing leaves only, so the bytes exchanged
 * grow with the difference between two nodes, not with the size of their state.
 */

export type LeafDigests = Record<number, string>;

/** Leaves whose digests differ (a missing leaf counts as empty). */
export function differingLeaves(mine: LeafDigests, theirs: LeafDigests): number[] {
  const out = new Set<number>();
  for (const k of Object.keys(mine)) if (mine[+k] !== theirs[+k]) out.add(+k);
  for (const k of Object.keys(theirs)) if (mine[+k] !== theirs[+k]) out.add(+k);
  return [...out].sort((a, b) => a - b);
}

export function fingerprint(s: StoredEntry): string {
  return hex32(s.keyHash) + hex32(s.h0) + hex32(s.h1);
}

const FP_LEN = 24;

/** Fingerprints of entries, concatenated (24 hex chars each). */
export function encodeFingerprints(entries: Iterable<StoredEntry>): string {
  let out = '';
  for (const s of entries) out += fingerprint(s);
  return out;
}

export function decodeFingerprints(fps: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + FP_LEN <= fps.length; i += FP_LEN) out.push(fps.slice(i, i + FP_LEN));
  return out;
}

export interface ExchangePlan {
  /** My entries the peer does not hold in this exact version. */
  send: Entry[];
  /** Key hashes (8 hex) of peer entries I do not hold in that exact version. */
  want: string[];
}

/** Given my entries in the differing leaves and the peer's fingerprints of the same leaves. */
export function planExchange(mine: StoredEntry[], theirFingerprints: string[]): ExchangePlan {
  const theirs = new Set(theirFingerprints);
  const myFps = new Set<string>();
  const send: Entry[] = [];
  for (const s of mine) {
    const fp = fingerprint(s);
    myFps.add(fp);
    if (!theirs.has(fp)) send.push(s.entry);
  }
  const want = new Set<string>();
  for (const fp of theirs) if (!myFps.has(fp)) want.add(fp.slice(0, 8));
  return { send, want: [...want] };
}

/**
 * The peer's answer to round 2, computed after it merged what it was sent: its entries whose
 * key hash was asked for, except those the asker already holds in that version.
 */
export function answerWants(candidates: StoredEntry[], want: string[], sentByAsker: Entry[]): Entry[] {
  const wanted = new Set(want);
  const sent = new Set(sentByAsker.map((e) => serializeEntry(e)));
  const out: Entry[] = [];
  for (const s of candidates) {
    if (!wanted.has(hex32(s.keyHash))) continue;
    if (sent.size > 0 && sent.has(s.json)) continue; // the asker holds exactly this entry
    out.push(s.entry);
  }
  return out;
}

/** One round-2 request of a chunked exchange: a set of leaves, my entries and my wants in them. */
export interface ExchangeChunk {
  leaves: number[];
  send: Entry[];
  want: string[];
}

/**
 * Splits round 2 into requests of at most `maxItems` entries sent plus keys wanted, by whole
 * leaves (a peer answers for the leaves it is asked about), so no request grows with the size of
 * the difference. A leaf heavier than `maxItems` alone still goes as one request of its own.
 * `leafOf` maps an entry and a wanted key hash (8 hex) to its leaf.
 */
export function chunkExchange(leaves: number[], plan: ExchangePlan, leafOfEntry: (e: Entry) => number, leafOfWant: (keyHash: string) => number, maxItems: number): ExchangeChunk[] {
  const weight = new Map<number, { send: Entry[]; want: string[] }>();
  const slot = (l: number): { send: Entry[]; want: string[] } => {
    let w = weight.get(l);
    if (!w) weight.set(l, (w = { send: [], want: [] }));
    return w;
  };
  for (const e of plan.send) slot(leafOfEntry(e)).send.push(e);
  for (const k of plan.want) slot(leafOfWant(k)).want.push(k);
  const chunks: ExchangeChunk[] = [];
  let cur: ExchangeChunk = { leaves: [], send: [], want: [] };
  for (const l of leaves) {
    const w = weight.get(l) ?? { send: [], want: [] };
    const size = w.send.length + w.want.length;
    if (cur.leaves.length > 0 && cur.send.length + cur.want.length + size > maxItems) {
      chunks.push(cur);
      cur = { leaves: [], send: [], want: [] };
    }
    cur.leaves.push(l);
    for (const e of w.send) cur.send.push(e);
    for (const k of w.want) cur.want.push(k);
  }
  if (cur.leaves.length > 0) chunks.push(cur);
  return chunks;
}
