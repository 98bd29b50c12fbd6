import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createHmac } from 'node:crypto';
import Redis from 'ioredis';
import { canonicalCommand, signCommand, verifyCommand } from '../../libs/common/src/auth/command-signature';
import { Keyring } from '../../libs/common/src/auth/keyring';
import { AvailabilityState } from '../../libs/common/src/domain/availability-state';
import { ALL_KINDS, Entry, TargetType } from '../../libs/common/src/domain/notification';
import { round } from './util';

export interface MicroResult {
  entries: number;
  check_calls: number;
  check_ns: number;
  check_hot16_ns: number;
  check_wide65536_ns: number;
  check_available_share: number;
  map_get_ns: number;
  redis_get_calls: number;
  redis_get_ns: number;
  build_ms: number;
  /** Heap held by the 100,000-entry state alone (after a full GC). */
  state_heap_mb: number;
  /** One check of a signed command (a set-clock): parse the header, canonical form, HMAC, compare, window. */
  verify_ns: number;
  /** Baseline: the HMAC-SHA256 alone over the same canonical text. */
  hmac_ns: number;
}

const APPS = 50_000;
const RESOURCES = 10_000;
const T0 = Date.parse('2024-01-01T00:00:00.000Z');

function entry(targetType: TargetType, target: string, kind: string, available: boolean, i: number): Entry {
  return {
    targetType,
    target,
    kind,
    available,
    ...(available ? {} : { reason: 'maintenance' as const, message: 'down for the benchmark' }),
    source: 'operator',
    timestamp: new Date(T0 + i * 7).toISOString(),
    id: `m${i}`,
    priority: 0,
  };
}

/** 100,000 entries: every app for all kinds, most apps for `read`, every resource, and `*`. */
export function buildState(): { state: AvailabilityState; deps: Record<string, string[]> } {
  const deps: Record<string, string[]> = {};
  for (let a = 0; a < APPS; a++) deps[`app${a}`] = [`res${a % RESOURCES}`, `res${(a * 7 + 3) % RESOURCES}`];
  const state = new AvailabilityState(deps);
  let i = 0;
  for (let a = 0; a < APPS; a++) state.apply(entry('application', `app${a}`, ALL_KINDS, a % 5 !== 0, i++));
  for (let r = 0; r < RESOURCES; r++) state.apply(entry('resource', `res${r}`, ALL_KINDS, r % 7 !== 0, i++));
  for (let a = 0; state.count < 100_000 - 1; a++) state.apply(entry('application', `app${a}`, 'read', a % 3 !== 0, i++));
  state.apply(entry('application', '*', 'write', true, i));
  return { state, deps };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** A garbage collection on demand (flag set at run time), to weigh the state alone. */
function gcFunction(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

interface Queries {
  apps: string[];
  kinds: string[];
}

/** `size` (app, kind) pairs over all kinds; one in 64 apps is unknown. */
function queries(size: number): Queries {
  const kinds = [ALL_KINDS, 'read', 'write', 'send'];
  const q: Queries = { apps: [], kinds: [] };
  for (let i = 0; i < size; i++) {
    q.apps.push(i % 64 === 63 ? `unknown${i}` : `app${(i * 7919) % APPS}`);
    q.kinds.push(kinds[i % kinds.length]);
  }
  return q;
}

/** ns per check() over `calls` calls rotating through the queries; counts available answers. */
function timeChecks(state: AvailabilityState, q: Queries, calls: number, acc: { available: number }): number {
  const mask = q.apps.length - 1;
  let available = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < calls; k++) if (state.check(q.apps[k & mask], q.kinds[k & mask]).available) available++;
  const t1 = process.hrtime.bigint();
  acc.available += available;
  return Number(t1 - t0) / calls;
}

function timeMapGets(map: Map<string, number>, keys: string[], calls: number, acc: { sum: number }): number {
  const mask = keys.length - 1;
  let sum = 0;
  const t0 = process.hrtime.bigint();
  for (let k = 0; k < calls; k++) sum += map.get(keys[k & mask]) ?? 0;
  const t1 = process.hrtime.bigint();
  acc.sum += sum;
  return Number(t1 - t0) / calls;
}

/** ns per verification of one signed set-clock (the whole pure check), and per bare HMAC of its canonical text. */
function timeVerify(calls: number): { verifyNs: number; hmacNs: number } {
  const ring = new Keyring([{ id: 'k1', secret: Buffer.alloc(32, 7), active: true }, { id: 'k0', secret: Buffer.alloc(32, 6), active: false }]);
  const head = { sender: 'poller-1', receiver: 'web-3', command: 'attendant.request', issuedAt: 1_764_288_000_000, nonce: 'bm9uY2Utbm9uY2Utbm9uY2U' };
  const body = { op: 'set-clock', adjustMs: -1520, by: 'poller-1' };
  const header = signCommand(ring, head, body);
  const expected = { receiver: head.receiver, command: head.command };
  let ok = 0;
  const v0 = process.hrtime.bigint();
  for (let k = 0; k < calls; k++) if (verifyCommand(ring, header, expected, body, head.issuedAt + (k & 1023)).ok) ok++;
  const v1 = process.hrtime.bigint();
  const text = canonicalCommand(head, body);
  let bytes = 0;
  const h0 = process.hrtime.bigint();
  for (let k = 0; k < calls; k++) bytes += createHmac('sha256', ring.active.secret).update(text, 'utf8').digest().length;
  const h1 = process.hrtime.bigint();
  if (ok !== calls || bytes !== 32 * calls) throw new Error('a timed verification loop did not compute what it should');
  return { verifyNs: Number(v1 - v0) / calls, hmacNs: Number(h1 - h0) / calls };
}

const REPS = 5;
const ROTATION = 4096;

/**
 * ns/op of the synchronous lookup on a 100,000-entry state, rotating over 4,096 (app, kind)
 * pairs (some available, some not, a few unknown apps), beside a bare Map.get on a 100,000-key
 * Map over 4,096 keys, and an awaited Redis GET. Each figure is the median of 5 repetitions;
 * check() is also timed over 16 and 65,536 pairs to show how much is memory access. Results
 * are accumulated and checked so no loop can be optimised away.
 */
export async function runMicro(redisUrl: string, ns: string, checkCalls: number, redisCalls: number): Promise<MicroResult> {
  const gc = gcFunction();
  gc();
  const heap0 = process.memoryUsage().heapUsed;
  const b0 = performance.now();
  const { state } = buildState();
  const buildMs = performance.now() - b0;
  gc();
  const stateHeapMb = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;

  const perRep = Math.max(1, Math.floor(checkCalls / REPS));
  const acc = { available: 0, sum: 0 };
  const main = queries(ROTATION);
  timeChecks(state, main, Math.min(200_000, perRep), acc);
  acc.available = 0;
  const checkNs = median(Array.from({ length: REPS }, () => timeChecks(state, main, perRep, acc)));
  const availableShare = acc.available / (perRep * REPS);
  const hot = median(Array.from({ length: REPS }, () => timeChecks(state, queries(16), perRep, acc)));
  const wide = median(Array.from({ length: REPS }, () => timeChecks(state, queries(65_536), perRep, acc)));

  const map = new Map<string, number>();
  for (let k = 0; k < 100_000; k++) map.set(`application|app${k}|*`, k);
  const mKeys: string[] = [];
  for (let i = 0; i < ROTATION; i++) mKeys.push(`application|app${(i * 7919) % 100_000}|*`);
  timeMapGets(map, mKeys, Math.min(200_000, perRep), acc);
  const mapNs = median(Array.from({ length: REPS }, () => timeMapGets(map, mKeys, perRep, acc)));

  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let rNs: number;
  let got = 0;
  try {
    await redis.connect();
    const key = `${ns}:bench:get`;
    await redis.set(key, JSON.stringify({ available: false, reason: 'maintenance' }));
    for (let k = 0; k < 200; k++) got += (await redis.get(key))?.length ?? 0;
    const r0 = process.hrtime.bigint();
    for (let k = 0; k < redisCalls; k++) got += (await redis.get(key))?.length ?? 0;
    const r1 = process.hrtime.bigint();
    rNs = Number(r1 - r0) / redisCalls;
    await redis.del(key);
  } finally {
    redis.disconnect();
  }
  // A full collection first: the state just built must not leave a marking cycle running under the timed loop.
  gc();
  timeVerify(20_000);
  const verifies = Array.from({ length: REPS }, () => timeVerify(50_000));
  // The accumulated results must be what the loops computed: none of them is dead code.
  if (acc.sum <= 0 || acc.available <= 0 || got <= 0) throw new Error('a timed loop computed nothing');
  return {
    entries: state.count,
    check_calls: perRep * REPS,
    check_ns: round(checkNs, 1),
    check_hot16_ns: round(hot, 1),
    check_wide65536_ns: round(wide, 1),
    check_available_share: round(availableShare, 3),
    map_get_ns: round(mapNs, 1),
    redis_get_calls: redisCalls,
    redis_get_ns: round(rNs, 0),
    build_ms: round(buildMs, 0),
    state_heap_mb: round(stateHeapMb, 1),
    verify_ns: round(median(verifies.map((v) => v.verifyNs)), 0),
    hmac_ns: round(median(verifies.map((v) => v.hmacNs)), 0),
  };
}
