/**
 * Ring benchmark (`npm run bench:ring`). 50 nodes, run as lightweight node runtimes: the
 * repeaters' own RingWatcher, each with its own HTTP listener and Redis connection, ten per host
 * process (fifty Nest processes do not fit two cores). Measures, in one run: pings per node per
 * second under the ring and under all-to-all pinging of the same nodes; detection-and-relink time
 * over 20 kills; false deaths while two CPU hogs saturate the machine.
 */
import { ChildProcess, fork, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Redis from 'ioredis';
import { isValidRing, RingRow } from '../libs/common/src/domain/ring';
import { resolveBrokers, uniqueNamespace } from '../libs/common/src/testing/brokers';
import { REPO_ROOT } from '../libs/common/src/testing/farm-process';

const NODES = Number(process.env.BENCH_NODES ?? 50);
const HOSTS = 5;
const KILLS = Number(process.env.BENCH_KILLS ?? 20);
const INTERVAL = Number(process.env.PING_INTERVAL_MS ?? 1000);
const MISSES = Number(process.env.PING_MISSES ?? 3);
const PHASE_S = Number(process.env.BENCH_PHASE_S ?? 10);
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

async function main(): Promise<void> {
  const started = Date.now();
  const brokers = await resolveBrokers();
  const ns = uniqueNamespace('ring-bench');
  const key = `${ns}:ring`;
  const redis = new Redis(brokers.redisUrl);
  const table = async (): Promise<Record<string, RingRow>> => Object.fromEntries(Object.entries(await redis.hgetall(key)).map(([k, v]) => [k, JSON.parse(v) as RingRow]));
  const env = { ...process.env, REDIS_URL: brokers.redisUrl, RING_KEY: key, PING_INTERVAL_MS: String(INTERVAL), PING_MISSES: String(MISSES) };
  const hosts = Array.from({ length: HOSTS }, () => new Host(fork(join(__dirname, 'lib', 'ring-host.js'), [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
  const hogs: ChildProcess[] = [];
  const hostOf = new Map<string, Host>();
  const stats = async (): Promise<Stats> => Object.assign({}, ...(await Promise.all(hosts.map((h) => h.ask<Stats>({ cmd: 'stats' })))));
  const sum = (s: Stats, f: keyof Stats[string]): number => Object.values(s).reduce((a, x) => a + x[f], 0);
  try {
    log(`starting ${NODES} nodes in ${HOSTS} processes (interval ${INTERVAL} ms, ${MISSES} misses)`);
    const addresses: Record<string, string> = {};
    await Promise.all(hosts.map(async (h, hi) => {
      const ids = Array.from({ length: NODES / HOSTS }, (_, i) => `n${hi * (NODES / HOSTS) + i}`);
      ids.forEach((id) => (h.ids.add(id), hostOf.set(id, h)));
      Object.assign(addresses, (await h.ask<{ addresses: Record<string, string> }>({ cmd: 'start', ids })).addresses);
    }));
    const t0 = await table();
    if (Object.keys(t0).length !== NODES || !isValidRing(t0)) throw new Error('the ring did not form one valid cycle');
    log('one valid cycle of ' + NODES);

    log(`ring pings for ${PHASE_S} s`);
    const s0 = await stats();
    await sleep(PHASE_S * 1000);
    const s1 = await stats();
    const perNode = Object.keys(s1).map((id) => (s1[id].pings - s0[id].pings) / PHASE_S);
    const perRound = Object.keys(s1).map((id) => (s1[id].pings - s0[id].pings) / Math.max(1, s1[id].rounds - s0[id].rounds));
    const ringPings = perNode.reduce((a, b) => a + b, 0) / perNode.length;

    log(`${KILLS} kills, one at a time`);
    const detect: number[] = [];
    const declaredBefore = sum(await stats(), 'declaredDead');
    for (let k = 0; k < KILLS; k++) {
      const ids = Object.keys(await table());
      const victim = ids[Math.floor(Math.random() * ids.length)];
      const host = hostOf.get(victim) as Host;
      const t = Date.now();
      await host.ask({ cmd: 'kill', id: victim });
      for (;;) {
        const now = await table();
        if (!now[victim] && isValidRing(now)) break;
        if (Date.now() - t > 30_000) throw new Error(`${victim} not cut out within 30 s`);
        await sleep(20);
      }
      detect.push(Date.now() - t);
      await host.ask({ cmd: 'start', ids: [victim] });
      while (!(await table())[victim]) await sleep(20);
    }
    const killPhaseExtra = sum(await stats(), 'declaredDead') - declaredBefore - KILLS;
    detect.sort((a, b) => a - b);
    log(`detection p50 ${percentile(detect, 0.5)} ms, p99 ${percentile(detect, 0.99)} ms`);

    log(`false deaths: ${PHASE_S * 1.5} s with two CPU hogs saturating the machine`);
    const before = sum(await stats(), 'declaredDead');
    for (let i = 0; i < 2; i++) hogs.push(spawn(process.execPath, ['-e', 'for(;;){}'], { stdio: 'ignore' }));
    await sleep(PHASE_S * 1500);
    hogs.forEach((h) => h.kill('SIGKILL'));
    await sleep(2 * INTERVAL);
    const hogDeaths = sum(await stats(), 'declaredDead') - before;
    const tHog = await table();

    log(`all-to-all pings for ${PHASE_S} s (the baseline)`);
    const current = Object.fromEntries(Object.entries(await table()).map(([id, r]) => [id, r.address]));
    const a0 = await stats();
    await Promise.all(hosts.map((h) => h.ask({ cmd: 'all-to-all', on: true, addresses: current })));
    await sleep(PHASE_S * 1000);
    await Promise.all(hosts.map((h) => h.ask({ cmd: 'all-to-all', on: false })));
    const a1 = await stats();
    const allToAll = Object.keys(a1).reduce((a, id) => a + (a1[id].allToAllPings - (a0[id]?.allToAllPings ?? 0)), 0) / Object.keys(a1).length / PHASE_S;

    const results = {
      nodes: NODES,
      runtime: `${NODES} lightweight nodes (RingWatcher + HTTP listener + Redis connection each) in ${HOSTS} processes`,
      ping_interval_ms: INTERVAL,
      ping_misses: MISSES,
      ring_pings_per_node_per_s: Math.round(ringPings * 100) / 100,
      ring_pings_per_node_per_round_min: Math.min(...perRound),
      ring_pings_per_node_per_round_max: Math.max(...perRound),
      all_to_all_pings_per_node_per_s: Math.round(allToAll * 100) / 100,
      detect_p50_ms: percentile(detect, 0.5),
      detect_p99_ms: percentile(detect, 0.99),
      detect_max_ms: detect[detect.length - 1],
      detect_all_ms: detect,
      false_deaths: hogDeaths + Math.max(0, killPhaseExtra),
      false_deaths_under_cpu_hog: hogDeaths,
      extra_declarations_during_kills: killPhaseExtra,
      ring_valid_after_hog: isValidRing(tHog) && Object.keys(tHog).length === NODES,
      goals: { pings: 'exactly 2 per node per interval', detect_p99_ms: `<= ${INTERVAL * (MISSES + 2)}`, false_deaths: 0 },
      date: new Date().toISOString(),
      duration_s: Math.round((Date.now() - started) / 100) / 10,
    };
    mkdirSync(join(REPO_ROOT, 'bench', 'results'), { recursive: true });
    writeFileSync(join(REPO_ROOT, 'bench', 'results', 'ring.json'), JSON.stringify(results, null, 2) + '\n');
    const rows: [string, string, string, string][] = [
      ['pings per node per s', `${results.ring_pings_per_node_per_s} (${results.ring_pings_per_node_per_round_min}-${results.ring_pings_per_node_per_round_max}/round)`, `all-to-all ${results.all_to_all_pings_per_node_per_s} (${NODES - 1} expected)`, `2 per interval (${2000 / INTERVAL}/s)`],
      ['detect + relink p50', `${results.detect_p50_ms} ms`, '', ''],
      ['detect + relink p99', `${results.detect_p99_ms} ms`, '', `<= ${INTERVAL * (MISSES + 2)} ms`],
      ['false deaths', String(results.false_deaths), `under CPU hog ${hogDeaths}`, '0'],
    ];
    console.log('\nfigure                 | ours       | baseline                         | goal');
    for (const r of rows) console.log(`${r[0].padEnd(22)} | ${r[1].padEnd(10)} | ${r[2].padEnd(32)} | ${r[3]}`);
    console.log(`\nwrote bench/results/ring.json in ${results.duration_s} s`);
  } finally {
    hogs.forEach((h) => h.kill('SIGKILL'));
    await Promise.all(hosts.map((h) => Promise.race([h.ask({ cmd: 'exit' }), sleep(2000)])));
    hosts.forEach((h) => h.proc.kill('SIGKILL'));
    await redis.del(key);
    redis.disconnect();
    await brokers.stop();
  }
}

main().catch((err: Error) => {
  console.error(`bench:ring failed: ${err.stack ?? err.message}`);
  process.exit(1);
});
