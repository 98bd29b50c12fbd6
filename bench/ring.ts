/**
 * Ring benchmark (`npm run bench:ring`). Rings of 50 and of 1,000 nodes (`BENCH_SIZES`), run as
 * lightweight node runtimes: the repeaters' own RingWatcher, each with its own HTTP listener and
 * Redis connection, many per host process (fifty Nest processes do not fit two cores, let alone a
 * thousand), on a redis-server of the benchmark's own, so that Redis's own counters
 * (`INFO commandstats`, `INFO stats`) count the ring's reads and nothing else. Measures, per size,
 * in one run: pings per node per second; reads of the ring table per node per second and their
 * bytes, against the earlier design (every node reading the whole table every round) measured on
 * the same ring; detection-and-relink time over kills; false deaths while two CPU hogs saturate
 * the machine; at 50 nodes, all-to-all pinging of the same nodes as the pings' baseline.
 */
import { ChildProcess, fork, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { isValidRing, RingRow } from '../libs/common/src/domain/ring';
import { uniqueNamespace } from '../libs/common/src/testing/brokers';
import { REPO_ROOT } from '../libs/common/src/testing/farm-process';
import { TestRedis } from '../libs/common/src/testing/redis-server';

const SIZES = (process.env.BENCH_SIZES ?? process.env.BENCH_NODES ?? '50,1000').split(',').map(Number);
const KILLS = Number(process.env.BENCH_KILLS ?? 20);
const INTERVAL = Number(process.env.PING_INTERVAL_MS ?? 1000);
const MISSES = Number(process.env.PING_MISSES ?? 3);
const PHASE_S = Number(process.env.BENCH_PHASE_S ?? 10);
/** Nodes per host process. */
const PER_HOST = Number(process.env.BENCH_PER_HOST ?? 100);
/** All-to-all pinging is n² pings a second: measured only up to this size. */
const ALL_TO_ALL_MAX = 100;
const log = (m: string): void => console.log(`[bench:ring ${new Date().toISOString().slice(11, 19)}] ${m}`);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Stats = Record<string, { rounds: number; pings: number; declaredDead: number; selfSuspicions: number; allToAllPings: number }>;

class Host {
  private seq = 0;
  private readonly waiting = new Map<number, (b: unknown) => void>();
  readonly ids = new Set<string>();
  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: { seq: number; body: unknown }) => {
      this.waiting.get(m.seq)?.(m.body);
      this.waiting.delete(m.seq);
    });
  }
  ask<T>(cmd: Record<string, unknown>): Promise<T> {
    const seq = ++this.seq;
    return new Promise<T>((resolve) => {
      this.waiting.set(seq, resolve as (b: unknown) => void);
      this.proc.send({ ...cmd, seq });
    });
  }
}

function percentile(sorted: number[], p: number): number {
  return sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)] : NaN;
}

/** Reads of the ring table and Redis's output bytes so far, from Redis's own counters. */
async function redisCounters(redis: Redis): Promise<{ reads: number; bytesOut: number }> {
  const stats = await redis.info('commandstats');
  const calls = (cmd: string): number => Number(new RegExp(`cmdstat_${cmd}:calls=(\\d+)`).exec(stats)?.[1] ?? 0);
  // A node's own view is one script call (its HGETs inside are not counted again); rows are HMGET; the whole table HGETALL.
  const reads = calls('eval') + calls('evalsha') + calls('hmget') + calls('hgetall');
  const bytesOut = Number(/total_net_output_bytes:(\d+)/.exec(await redis.info('stats'))?.[1] ?? 0);
  return { reads, bytesOut };
}

type SizeResult = Record<string, unknown> & { nodes: number };

async function runSize(nodes: number, redisUrl: string): Promise<SizeResult> {
  const started = Date.now();
  const hostCount = Math.max(1, Math.ceil(nodes / PER_HOST));
  const ns = uniqueNamespace('ring-bench');
  const key = `${ns}:ring`;
  const redis = new Redis(redisUrl);
  const table = async (): Promise<Record<string, RingRow>> => Object.fromEntries(Object.entries(await redis.hgetall(key)).map(([k, v]) => [k, JSON.parse(v) as RingRow]));
  const env = { ...process.env, REDIS_URL: redisUrl, RING_KEY: key, PING_INTERVAL_MS: String(INTERVAL), PING_MISSES: String(MISSES) };
  const hosts = Array.from({ length: hostCount }, () => new Host(fork(join(__dirname, 'lib', 'ring-host.js'), [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
  const hogs: ChildProcess[] = [];
  const hostOf = new Map<string, Host>();
  const stats = async (): Promise<Stats> => Object.assign({}, ...(await Promise.all(hosts.map((h) => h.ask<Stats>({ cmd: 'stats' })))));
  const sum = (s: Stats, f: keyof Stats[string]): number => Object.values(s).reduce((a, x) => a + x[f], 0);
  const poll = Math.max(20, nodes / 20);
  try {
    log(`starting ${nodes} nodes in ${hostCount} processes (interval ${INTERVAL} ms, ${MISSES} misses)`);
    await Promise.all(hosts.map(async (h, hi) => {
      const ids = Array.from({ length: nodes }, (_, i) => `n${i}`).filter((_, i) => i % hostCount === hi);
      ids.forEach((id) => (h.ids.add(id), hostOf.set(id, h)));
      await h.ask({ cmd: 'start', ids });
    }));
    const t0 = await table();
    if (Object.keys(t0).length !== nodes || !isValidRing(t0)) throw new Error('the ring did not form one valid cycle');
    log(`one valid cycle of ${nodes}; letting the joins settle`);
    await sleep(3 * INTERVAL);

    log(`steady ring for ${PHASE_S} s: pings, and reads of the table counted by Redis`);
    const s0 = await stats();
    const r0 = await redisCounters(redis);
    await sleep(PHASE_S * 1000);
    const r1 = await redisCounters(redis);
    const s1 = await stats();
    const perNode = Object.keys(s1).map((id) => (s1[id].pings - s0[id].pings) / PHASE_S);
    const perRound = Object.keys(s1).map((id) => (s1[id].pings - s0[id].pings) / Math.max(1, s1[id].rounds - s0[id].rounds));
    const ringPings = perNode.reduce((a, b) => a + b, 0) / perNode.length;
    // Our own counter reads (INFO) add two calls and their output bytes: negligible, and left in.
    const reads = (r1.reads - r0.reads) / nodes / PHASE_S;
    const bytes = (r1.bytesOut - r0.bytesOut) / nodes / PHASE_S;

    if (!isValidRing(await table())) throw new Error('the ring is no longer one valid cycle after the steady phase');
    const kills = nodes >= 500 ? Math.min(KILLS, 10) : KILLS;
    log(`${kills} kills, one at a time`);
    const detect: number[] = [];
    const declaredBefore = sum(await stats(), 'declaredDead');
    for (let k = 0; k < kills; k++) {
      const ids = Object.keys(await table());
      const victim = ids[Math.floor(Math.random() * ids.length)];
      const host = hostOf.get(victim) as Host;
      const t = Date.now();
      await host.ask({ cmd: 'kill', id: victim });
      for (;;) {
        const now = await table();
        if (!now[victim] && isValidRing(now)) break;
        if (Date.now() - t > 30_000) {
          const bad = Object.entries(now).filter(([id, r]) => !r.buddyA || !r.buddyB || !now[r.buddyA] || !now[r.buddyB] || r.buddyA === id || r.buddyB === id).map(([id, r]) => `${id}->${r.buddyA},${r.buddyB}`);
          throw new Error(`${victim} not cut out within 30 s: ${now[victim] ? 'still in the table' : 'gone'}; ${Object.keys(now).length} rows; rows naming a missing buddy: ${bad.slice(0, 10).join(' ') || 'none'}`);
        }
        await sleep(poll);
      }
      detect.push(Date.now() - t);
      await host.ask({ cmd: 'start', ids: [victim] });
      while (!(await table())[victim]) await sleep(poll);
    }
    const killPhaseExtra = sum(await stats(), 'declaredDead') - declaredBefore - kills;
    detect.sort((a, b) => a - b);
    log(`detection p50 ${percentile(detect, 0.5)} ms, p99 ${percentile(detect, 0.99)} ms`);

    log(`false deaths: ${PHASE_S * 1.5} s with two CPU hogs saturating the machine`);
    await sleep(2 * INTERVAL);
    const before = sum(await stats(), 'declaredDead');
    for (let i = 0; i < 2; i++) hogs.push(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
    await sleep(PHASE_S * 1500);
    hogs.forEach((h) => h.kill('SIGKILL'));
    await sleep(2 * INTERVAL);
    const hogDeaths = sum(await stats(), 'declaredDead') - before;
    const tHog = await table();

    log(`the earlier design on the same ring for ${PHASE_S} s: every node reads the whole table every round`);
    await Promise.all(hosts.map((h) => h.ask({ cmd: 'full-reads', on: true })));
    await sleep(INTERVAL);
    const b0 = await redisCounters(redis);
    await sleep(PHASE_S * 1000);
    const b1 = await redisCounters(redis);
    await Promise.all(hosts.map((h) => h.ask({ cmd: 'full-reads', on: false })));
    const baseReads = (b1.reads - b0.reads) / nodes / PHASE_S;
    const baseBytes = (b1.bytesOut - b0.bytesOut) / nodes / PHASE_S;
    await sleep(2 * INTERVAL);

    let allToAll: number | undefined;
    if (nodes <= ALL_TO_ALL_MAX) {
      log(`all-to-all pings for ${PHASE_S} s (the pings' baseline)`);
      const current = Object.fromEntries(Object.entries(await table()).map(([id, r]) => [id, r.address]));
      const a0 = await stats();
      await Promise.all(hosts.map((h) => h.ask({ cmd: 'all-to-all', on: true, addresses: current })));
      await sleep(PHASE_S * 1000);
      await Promise.all(hosts.map((h) => h.ask({ cmd: 'all-to-all', on: false })));
      const a1 = await stats();
      allToAll = Object.keys(a1).reduce((a, id) => a + (a1[id].allToAllPings - (a0[id]?.allToAllPings ?? 0)), 0) / Object.keys(a1).length / PHASE_S;
    }

    const round2 = (x: number): number => Math.round(x * 100) / 100;
    return {
      nodes,
      runtime: `${nodes} lightweight nodes (RingWatcher + HTTP listener + Redis connection each) in ${hostCount} processes`,
      ping_interval_ms: INTERVAL,
      ping_misses: MISSES,
      ring_pings_per_node_per_s: round2(ringPings),
      ring_pings_per_node_per_round_min: Math.min(...perRound),
      ring_pings_per_node_per_round_max: Math.max(...perRound),
      all_to_all_pings_per_node_per_s: allToAll === undefined ? null : round2(allToAll),
      table_reads_per_node_per_s: Math.round(reads * 10_000) / 10_000,
      table_bytes_per_node_per_s: Math.round(bytes),
      baseline_table_reads_per_node_per_s: round2(baseReads),
      baseline_table_bytes_per_node_per_s: Math.round(baseBytes),
      detect_p50_ms: percentile(detect, 0.5),
      detect_p99_ms: percentile(detect, 0.99),
      detect_max_ms: detect[detect.length - 1],
      detect_all_ms: detect,
      false_deaths: hogDeaths + Math.max(0, killPhaseExtra),
      false_deaths_under_cpu_hog: hogDeaths,
      extra_declarations_during_kills: killPhaseExtra,
      ring_valid_after_hog: isValidRing(tHog) && Object.keys(tHog).length === nodes,
      duration_s: Math.round((Date.now() - started) / 100) / 10,
    };
  } finally {
    hogs.forEach((h) => h.kill('SIGKILL'));
    await Promise.all(hosts.map((h) => Promise.race([h.ask({ cmd: 'exit' }), sleep(2000)])));
    hosts.forEach((h) => h.proc.kill('SIGKILL'));
    await redis.del(key);
    redis.disconnect();
  }
}

async function main(): Promise<void> {
  const own = await new TestRedis(false).start();
  try {
    const runs: SizeResult[] = [];
    for (const n of SIZES) runs.push(await runSize(n, own.url));
    const [first, ...more] = runs;
    const goals = {
      pings: 'exactly 2 per node per interval (<= 2.2/s at 1,000 nodes)',
      detect_p99_ms: `<= ${INTERVAL * (MISSES + 2)} (<= 3,000 at 1,000 nodes)`,
      false_deaths: 0,
      table_reads_per_node_per_s: '<= 0.05 at 1,000 nodes',
    };
    const results = { ...first, at_scale: more, goals, date: new Date().toISOString() };
    mkdirSync(join(REPO_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(REPO_ROOT, 'bench', 'results', 'ring.json'), JSON.stringify(results, null, 2) + '\n');
    console.log('\nnodes | pings/node/s (per round) | table reads/node/s (earlier design) | table bytes/node/s (earlier design) | detect p50/p99 ms | false deaths | all-to-all pings/node/s');
    for (const r of runs) {
      console.log([
        String(r.nodes).padStart(5),
        `${r.ring_pings_per_node_per_s} (${r.ring_pings_per_node_per_round_min}-${r.ring_pings_per_node_per_round_max})`.padEnd(24),
        `${r.table_reads_per_node_per_s} (${r.baseline_table_reads_per_node_per_s})`.padEnd(35),
        `${r.table_bytes_per_node_per_s} (${r.baseline_table_bytes_per_node_per_s})`.padEnd(35),
        `${r.detect_p50_ms}/${r.detect_p99_ms}`.padEnd(17),
        String(r.false_deaths).padEnd(12),
        r.all_to_all_pings_per_node_per_s === null ? 'not run' : String(r.all_to_all_pings_per_node_per_s),
      ].join(' | '));
    }
    console.log(`goals at 1,000 nodes: pings <= 2.2/s, detect p99 <= 3,000 ms, false deaths 0, table reads <= 0.05/node/s\nwrote bench/results/ring.json`);
  } finally {
    // destroy(), not stop(): it also closes the admin connection, whose reconnection timer kept the bench from exiting.
    await own.destroy().catch(() => undefined);
  }
}

main().catch((err: Error) => {
  console.error(`bench:ring failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
