import { readFileSync } from 'node:fs';
import * as amqp from 'amqplib';
import type { HandshakeReport } from '../../libs/common/src/availability/sync.service';
import { ORIGIN_HEADER } from '../../libs/common/src/contracts/topology';
import { ALL_KINDS, Entry, canonicalEntry, keyOf, serializeEntry } from '../../libs/common/src/domain/notification';
import { waitFor } from '../../libs/common/src/testing/wait-for';
import { BenchFarm, metricValue } from './farm';
import { now, round, sleep } from './util';

const A = 'hsA';
const B = 'hsB';
/** A week ago, whole hours: inside the retention window, so restores keep every entry. */
/** How long the nodes stay idle after the handshakes before their settled RSS is read. */
const SETTLE_MS = 90_000;
const T0 = Math.floor((Date.now() - 7 * 24 * 3600 * 1000) / 3_600_000) * 3_600_000;

/** Entry i of the big state; version 2 is newer than version 1 for the same key. */
function bigEntry(i: number, version: 1 | 2): Entry {
  const available = (i + version) % 3 === 0;
  return canonicalEntry({
    targetType: i % 10 === 0 ? 'resource' : 'application',
    target: `h${i}`,
    kind: i % 4 === 0 ? 'read' : ALL_KINDS,
    available,
    ...(available ? {} : { reason: 'maintenance' as const }),
    message: `Planned work on h${i}; expect short interruptions.`,
    operatorId: 'bench',
    source: 'operator',
    timestamp: new Date(T0 + i * 10 + (version === 2 ? 3_600_000 : 0)).toISOString(),
    id: `e${i}-v${version}`,
    priority: 0,
  });
}

async function writeHash(farm: BenchFarm, nodeId: string, entries: Entry[]): Promise<void> {
  const key = farm.entriesKey(nodeId);
  for (let i = 0; i < entries.length; i += 2000) {
    const fields: Record<string, string> = {};
    for (const e of entries.slice(i, i + 2000)) fields[keyOf(e)] = serializeEntry(e);
    await farm.redis.hset(key, fields);
  }
}

/** V8's young generation capped at 2 MB per semi-space (the default is 16 MB). */
const SMALL_YOUNG_GEN = '--max-semi-space-size=2';

export interface HandshakeRun {
  round: number;
  divergent: number;
  entries_a: number;
  ms: number;
  http_ms: number;
  bytes_out: number;
  bytes_in: number;
  learned: number;
  sent: number;
  digests_equal: boolean;
}

export interface HandshakeResult {
  entries: number;
  divergent: number;
  startup: { ms: number; learned: number } | null;
  runs: HandshakeRun[];
  handshake_ms: number;
  handshake_bytes: number;
  full_state_bytes: number;
  /** Right after the handshakes: the state restored, the handshakes' garbage not yet collected. */
  rss_mb: number;
  /** The most RSS either node had had by then (VmHWM: start-up, restore and handshakes): what a memory limit must allow. */
  rss_peak_mb: number;
  /**
   * The same nodes idle for SETTLE_MS after that (V8's memory reducer returns what the restore
   * and the handshakes left), sampled every 5 s: the last sample, and the series.
   */
  rss_settled_mb: number;
  rss_settled_series: Record<string, number[]>;
  /** RSS of a node holding the same state, started with NODE_OPTIONS=SMALL_YOUNG_GEN. */
  rss_mb_small_young_gen: number;
  node_options_small_young_gen: string;
  rss_by_node: Record<string, number>;
  /** V8 heap and external memory by node, from GET /metrics. */
  heap_by_node: Record<string, { heap_used_mb: number; heap_total_mb: number; external_mb: number }>;
  entries_at_rss: Record<string, number>;
}

async function heapOf(farm: BenchFarm, nodeId: string): Promise<{ heap_used_mb: number; heap_total_mb: number; external_mb: number }> {
  const text = await farm.scrape(nodeId);
  const mb = (name: string): number => round(metricValue(text, name) / 2 ** 20, 1);
  return { heap_used_mb: mb('nodejs_heap_size_used_bytes'), heap_total_mb: mb('nodejs_heap_size_total_bytes'), external_mb: mb('nodejs_external_memory_bytes') };
}

/** A's log line of its first handshake at start-up (not exposed over HTTP). */
function startupFromLog(logFile: string): { ms: number; learned: number } | null {
  const m = /handshake with hsB: learned (\d+).* in (\d+) ms/.exec(readFileSync(logFile, 'utf8'));
  return m ? { learned: Number(m[1]), ms: Number(m[2]) } : null;
}

/**
 * Two nodes with 100,000 entries and 1% divergence: written straight into their Redis hashes
 * (500 entries only on A, 500 keys where B holds a newer version), B started alone, then A with
 * SYNC_PEERS=B (the start-up handshake). Then, twice, a fresh 1% divergence is made through the
 * nodes' own queues (500 new entries to A's, 500 newer versions to B's) and POST /v1/sync on A
 * runs the handshake on demand; digests must then be equal.
 */
export async function runHandshake(farm: BenchFarm, total: number, rounds: number): Promise<HandshakeResult> {
  const divergentHalf = Math.round(total / 200);
  const stride = Math.floor(total / divergentHalf);
  const onlyA = (i: number): boolean => i % stride === 0 && i / stride < divergentHalf;
  const newerOnB = (i: number): boolean => i % stride === Math.floor(stride / 2) && (i - Math.floor(stride / 2)) / stride < divergentHalf;
  const aEntries: Entry[] = [];
  const bEntries: Entry[] = [];
  for (let i = 0; i < total; i++) {
    aEntries.push(bigEntry(i, 1));
    if (onlyA(i)) continue;
    bEntries.push(bigEntry(i, newerOnB(i) ? 2 : 1));
  }
  await writeHash(farm, A, aEntries);
  await writeHash(farm, B, bEntries);

  const common = { SYNC_TIMEOUT_MS: '30000', STARTUP_TIMEOUT_MS: '120000' };
  // SYNC_PEERS naming only itself: a configured, empty peer list, so B starts alone.
  await farm.spawn(B, { ...common, SYNC_PEERS: B });
  await farm.ready(B, 120_000);
  await farm.spawn(A, { ...common, SYNC_PEERS: B });
  await farm.ready(A, 120_000);
  const startup = startupFromLog(farm.node(A).logFile);

  const conn = await amqp.connect(farm.rabbitmqUrl, { noDelay: true });
  const runs: HandshakeRun[] = [];
  try {
    const ch = await conn.createConfirmChannel();
    // As a node re-broadcasts (the nodes run FARM_BROKER_USERS=shared: any user may, naming its origin).
    const origin = { [ORIGIN_HEADER]: 'bench' };
    for (let r = 1; r <= rounds; r++) {
      const [aBase, bBase] = await Promise.all([farm.auditLength(A), farm.auditLength(B)]);
      const ts = new Date().toISOString();
      for (let k = 0; k < divergentHalf; k++) {
        // New on A only: a target nobody had.
        const n = { target: `hn${r}-${k}`, targetType: 'application', available: false, reason: 'outage', source: 'operator', timestamp: ts, id: `hn${r}-${k}`, priority: 0 };
        ch.sendToQueue(farm.t.nodeQueue(A), Buffer.from(JSON.stringify(n)), { persistent: true, messageId: n.id, headers: origin });
        // A newer version on B only, of a key both hold.
        const e = bigEntry((k * stride + 3 * r) % total, 1);
        const m = {
          target: e.target, targetType: e.targetType, available: !e.available, ...(e.available ? { reason: 'outage' } : {}), source: 'operator',
          ...(e.kind === ALL_KINDS ? {} : { requestKinds: [e.kind] }), timestamp: ts, id: `hb${r}-${k}`, priority: 0,
        };
        ch.sendToQueue(farm.t.nodeQueue(B), Buffer.from(JSON.stringify(m)), { persistent: true, messageId: m.id, headers: origin });
      }
      await ch.waitForConfirms();
      await waitFor('divergence applied on both nodes', async () => (await farm.auditLength(A)) >= aBase + divergentHalf && (await farm.auditLength(B)) >= bBase + divergentHalf, 60_000, 20);
      const before = await Promise.all([farm.health(A), farm.health(B)]);
      if (before[0].digest === before[1].digest) throw new Error('nodes agree before the handshake: no divergence to measure');
      const t0 = now();
      const res = await farm.node(A).post('/v1/sync');
      const httpMs = now() - t0;
      if (res.status !== 200) throw new Error(`POST /v1/sync on ${A}: ${res.status} ${JSON.stringify(res.body)}`);
      const rep = res.body as HandshakeReport;
      const after = await Promise.all([farm.health(A), farm.health(B)]);
      runs.push({
        round: r,
        divergent: 2 * divergentHalf,
        entries_a: after[0].entries,
        ms: rep.ms,
        http_ms: round(httpMs, 1),
        bytes_out: rep.bytesOut,
        bytes_in: rep.bytesIn,
        learned: rep.learned,
        sent: rep.peers.reduce((a, p) => a + p.sent, 0),
        digests_equal: after[0].digest === after[1].digest && after[0].entries === after[1].entries,
      });
    }
  } finally {
    await conn.close().catch(() => undefined);
  }

  const rssByNode = { [A]: round(farm.rssMb(A), 1), [B]: round(farm.rssMb(B), 1) };
  const rssPeak = round(Math.max(farm.peakRssMb(A), farm.peakRssMb(B)), 1);
  const heapByNode = { [A]: await heapOf(farm, A), [B]: await heapOf(farm, B) };
  const entriesAt = { [A]: (await farm.health(A)).entries, [B]: (await farm.health(B)).entries };
  const series: Record<string, number[]> = { [A]: [], [B]: [] };
  for (let t = 0; t < SETTLE_MS; t += 5000) {
    await sleep(5000);
    for (const id of [A, B]) series[id].push(round(farm.rssMb(id), 1));
  }
  const snapshot = await farm.node(A).snapshot<Entry>();
  let fullBytes = 0;
  for (const e of snapshot.entries) fullBytes += Buffer.byteLength(serializeEntry(canonicalEntry(e)));
  // The same node restarted with a smaller young generation (a deployment setting, documented):
  // its state restored from Redis, alone, then measured the same way.
  await farm.stop(A);
  await farm.spawn(A, { ...common, SYNC_PEERS: A, NODE_OPTIONS: SMALL_YOUNG_GEN });
  await farm.ready(A, 120_000);
  const rssTuned = round(farm.rssMb(A), 1);
  const first = runs[0];
  return {
    rss_mb_small_young_gen: rssTuned,
    node_options_small_young_gen: SMALL_YOUNG_GEN,
    entries: total,
    divergent: 2 * divergentHalf,
    startup,
    runs,
    handshake_ms: first ? first.ms : NaN,
    handshake_bytes: first ? first.bytes_out + first.bytes_in : NaN,
    full_state_bytes: fullBytes,
    rss_mb: Math.max(...Object.values(rssByNode)),
    rss_peak_mb: rssPeak,
    rss_settled_mb: Math.max(...Object.values(series).map((xs) => xs[xs.length - 1])),
    rss_settled_series: series,
    rss_by_node: rssByNode,
    heap_by_node: heapByNode,
    entries_at_rss: entriesAt,
  };
}
