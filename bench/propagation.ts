/**
 * Propagation benchmark (`npm run bench:propagation`; BENCH_QUICK=1 for a short run).
 *
 * In one run against the same local broker, in a fresh namespace that is deleted at the end:
 *  (c) check() ns/op on a 100,000-entry state, beside Map.get and an awaited Redis GET;
 *  (a) the floor: raw amqplib fanout to three durable queues, 1,000 msg/s;
 *  relay: the two-hop floor, the design's shape (ingress, three node processes re-publishing
 *      to a fanout) on raw amqplib, at 250/s and 1,000/s;
 *  (b) three repeaters: notification latency to all nodes at 1,000/s, then the highest
 *      sustained rate over increasing steps;
 *  (d) a handshake between two nodes of 100,000 entries with 1% divergence, and
 *  (e) the RSS of a repeater holding 100,000 entries;
 *  auth: the latency of (b) with who-may-do-what on and off, in alternating rounds;
 *  outage: three repeaters on a redis-server of the bench's own, notifications at 500/s, and
 *      Redis refusing writes for 3 s during the stream (lost, dead-lettered, recovery time).
 * Results go to bench/results/propagation.json and a table on stdout. BENCH_ONLY=outage (or a
 * comma-separated list of the phases in PHASES) runs only those phases and
 * writes bench/results/propagation-<phases>.json instead.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import * as amqp from 'amqplib';
import Redis from 'ioredis';
import { REPO_ROOT } from '../libs/common/src/testing/farm-process';
import { resolveBrokers } from '../libs/common/src/testing/brokers';
import { brokerAccounts, deleteBrokerUsers, provisionBrokerUsers } from '../libs/common/src/auth/broker-provision';
import { brokerUser } from '../libs/common/src/auth/broker-users';
import { BenchFarm, metricValue } from './lib/farm';
import { CpuMeter, findProcess } from './lib/cpu';
import { FloorResult, LaneFloorResult, cpuMsPer1000, floorNames, runFloor, runLaneFloor } from './lib/floor';
import { RelayFloorResult, runRelayFloor } from './lib/relay-floor';
import { INGRESS_URGENT_ROUTING_KEY, ORIGIN_HEADER } from '../libs/common/src/contracts/topology';
import { notificationBody, notifierOptions, now } from './lib/util';
import { HandshakeResult, runHandshake } from './lib/handshake';
import { MicroResult, runMicro } from './lib/micro';
import { Figures, goals, table } from './lib/report';
import { PhaseResult, SystemBench } from './lib/system';
import { OutageBench, OutageConfig, OutageResult } from './lib/outage';
import { cleanUpOnExit, round, runSection, sleep } from './lib/util';

const QUICK = process.env.BENCH_QUICK === '1';
const PHASES = ['check', 'floor', 'lanes', 'relay', 'system', 'overtake', 'auth', 'handshake', 'outage'];
const ONLY = process.env.BENCH_ONLY ? process.env.BENCH_ONLY.split(',').map((p) => p.trim()) : undefined;
const unknownPhases = (ONLY ?? []).filter((p) => !PHASES.includes(p));
if (unknownPhases.length > 0) throw new Error(`BENCH_ONLY: unknown phase(s) ${unknownPhases.join(', ')}; known: ${PHASES.join(', ')}`);
/** Whether a phase runs in this run (all of them unless BENCH_ONLY names some). */
const runs = (phase: string): boolean => !ONLY || ONLY.includes(phase);
const CFG = {
  latencyRate: 1000,
  latencySeconds: QUICK ? 3 : 10,
  // Long enough for V8 to optimise the hot paths: after 1 s, the 250/s phase that follows ran on
  // partly unoptimised code (p99 66-177 ms against 43-64 ms after 5 s, same machine, same hour).
  warmupSeconds: Number(process.env.BENCH_WARMUP ?? (QUICK ? 1 : 5)),
  lowRate: 250,
  lowRateSeconds: Number(process.env.BENCH_LOW_SECONDS ?? (QUICK ? 2 : 4)),
  priorityFloorSeconds: QUICK ? 2 : 5,
  steps: (process.env.BENCH_STEPS ?? '1000,2000,3000,5000,6000,7000,10000').split(',').map(Number),
  stepSeconds: QUICK ? 2 : 5,
  window: 2000,
  checkCalls: QUICK ? 1_000_000 : 5_000_000,
  redisCalls: QUICK ? 1000 : 3000,
  /** Phase "auth": rounds of latency at latencyRate, alternating who-may-do-what on and off (on first). */
  authRounds: QUICK ? 2 : 6,
  /** Phases "lanes" and "overtake": ordinary notifications waiting before the urgent one. */
  backlog: QUICK ? 5000 : 20_000,
  handshakeEntries: 100_000,
  handshakeRounds: QUICK ? 1 : 2,
  outage: { rate: 500, beforeSeconds: QUICK ? 1 : 2, outageSeconds: 3, afterSeconds: QUICK ? 2 : 4, rounds: QUICK ? 1 : 3, warmupSeconds: QUICK ? 2 : 4, sampleMs: 10, healthMs: 100 } satisfies OutageConfig,
};
const NODES = ['r1', 'r2', 'r3'];

interface SystemResult {
  /** The same measure at a rate the machine handles easily: the pipeline without a backlog. */
  low_rate: PhaseResult;
  latency: PhaseResult;
  steps: (PhaseResult & { sustained: boolean })[];
  sustained_per_s: number;
  /** Highest rate at which notifications were applied on all nodes in any phase (throughput). */
  peak_applied_per_s: number;
  lost: number;
  counts: Record<string, number>;
  expected_count: number;
  counts_match: boolean;
  rss_empty_mb: Record<string, number>;
  rss_after_steps_mb: Record<string, number>;
  /** Of the first node over the latency phase: event-loop delay p99 and young-generation (minor) GC, from its /metrics. */
  event_loop_p99_ms: number;
  minor_gc: { count: number; ms: number; max_share_pct: number };
}

/** Scrapes a node's /metrics (which also restarts its event-loop delay histogram). */

const log = (msg: string): void => console.log(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const seenAt = (r: PhaseResult): string => `; ${r.rebroadcasts} re-broadcast messages (${r.notifications_per_rebroadcast} notifications each)` + (r.rebroadcast_seen ? `; re-broadcast seen p50 ${r.rebroadcast_seen.p50_ms} ms, p99 ${r.rebroadcast_seen.p99_ms} ms, in ${r.rebroadcast_seen.messages} messages` : '');

async function runSystem(farm: BenchFarm): Promise<SystemResult> {
  await Promise.all(NODES.map((n) => farm.spawn(n)));
  await Promise.all(NODES.map((n) => farm.ready(n, 60_000)));
  const rssEmpty: Record<string, number> = {};
  for (const n of NODES) rssEmpty[n] = round(farm.rssMb(n), 1);
  const conn = await amqp.connect(farm.rabbitmqUrl, { noDelay: true });
  try {
    const ch = await conn.createConfirmChannel();
    const pids: Record<string, number | undefined> = { broker: findProcess('beam.smp'), redis: findProcess('redis-server'), bench: process.pid };
    for (const n of NODES) pids[n] = farm.node(n).pid;
    const idleMeter = new CpuMeter(pids).start();
    await sleep(3000);
    const idle = idleMeter.stop();
    log(`system: idle for 3 s, CPU ${JSON.stringify(idle.by_process)}`);
    const sys = new SystemBench(farm, NODES, ch, pids);
    if (process.env.BENCH_WITNESS === '1') await sys.watchRebroadcasts(conn);
    log(`system: warm-up ${CFG.warmupSeconds} s at ${CFG.latencyRate}/s`);
    const warm = await sys.phase(CFG.latencyRate, CFG.warmupSeconds, CFG.window);
    log(`system: ${CFG.lowRateSeconds} s at ${CFG.lowRate}/s`);
    const lowRate = await sys.phase(CFG.lowRate, CFG.lowRateSeconds, CFG.window);
    log(`  p50 ${lowRate.p50_ms} ms, p99 ${lowRate.p99_ms} ms, max ${lowRate.max_ms} ms, lost ${lowRate.lost}; on the taker p50 ${lowRate.taker.p50_ms} ms, p99 ${lowRate.taker.p99_ms} ms${seenAt(lowRate)}; CPU ${JSON.stringify(lowRate.cpu.by_process)}, machine ${lowRate.cpu.machine_busy_pct}% busy`);
    log(`system: latency ${CFG.latencySeconds} s at ${CFG.latencyRate}/s`);
    const m0 = await farm.scrape(NODES[0]);
    const latency = await sys.phase(CFG.latencyRate, CFG.latencySeconds, CFG.window);
    const m1 = await farm.scrape(NODES[0]);
    const gc = (m: string, f: 'sum' | 'count'): number => metricValue(m, `nodejs_gc_duration_seconds_${f}\\{kind="minor"\\}`);
    const minorMs = (gc(m1, 'sum') - gc(m0, 'sum')) * 1000;
    log(`  p50 ${latency.p50_ms} ms, p99 ${latency.p99_ms} ms, max ${latency.max_ms} ms, lost ${latency.lost}; on the taker p50 ${latency.taker.p50_ms} ms, p99 ${latency.taker.p99_ms} ms${seenAt(latency)}; CPU ${JSON.stringify(latency.cpu.by_process)}, machine ${latency.cpu.machine_busy_pct}% busy`);
    let lost = warm.lost + lowRate.lost + latency.lost;
    const steps: SystemResult['steps'] = [];
    let sustained = 0;
    for (const rate of CFG.steps) {
      const s = await sys.phase(rate, CFG.stepSeconds, CFG.window);
      // Sustained: sent and applied on all nodes at (nearly) the offered rate, no backlog left
      // behind (drained within half a second of the last send), nothing late, lost or refused.
      const ok = s.achieved_rate >= 0.95 * rate && s.applied_rate >= 0.95 * rate && s.drain_ms <= 500 && s.late === 0 && s.lost === 0 && s.nacked === 0;
      steps.push({ ...s, sustained: ok });
      lost += s.lost;
      log(`  step ${rate}/s: sent at ${s.achieved_rate}/s, applied at ${s.applied_rate}/s, drained ${s.drain_ms} ms after, late ${s.late}, lost ${s.lost}, p99 ${s.p99_ms} ms -> ${ok ? 'sustained' : 'NOT sustained'}`);
      if (!ok) break;
      sustained = rate;
    }
    const counts = await sys.counts();
    const rss: Record<string, number> = {};
    for (const n of NODES) rss[n] = round(farm.rssMb(n), 1);
    return {
      low_rate: lowRate,
      latency,
      steps,
      sustained_per_s: sustained,
      peak_applied_per_s: Math.max(latency.applied_rate, ...steps.map((s) => s.applied_rate)),
      lost,
      counts,
      expected_count: sys.total,
      counts_match: Object.values(counts).every((c) => c === sys.total),
      rss_empty_mb: rssEmpty,
      rss_after_steps_mb: rss,
      event_loop_p99_ms: round(metricValue(m1, 'nodejs_eventloop_lag_p99_seconds') * 1000, 1),
      minor_gc: { count: gc(m1, 'count') - gc(m0, 'count'), ms: round(minorMs, 1), max_share_pct: round((100 * minorMs) / (latency.cpu.seconds * 1000), 1) },
    };
  } finally {
    await conn.close().catch(() => undefined);
    await Promise.all(NODES.map((n) => farm.stop(n)));
  }
}

interface AuthRound {
  auth: 'on' | 'off';
  p50_ms: number;
  p99_ms: number;
  lost: number;
}

interface AuthCompare {
  rounds: AuthRound[];
  /** Medians over the rounds of each mode. */
  on_p50_ms: number;
  on_p99_ms: number;
  off_p50_ms: number;
  off_p99_ms: number;
  /** The lowest and highest p99 of the rounds of each mode: the run-to-run noise the difference is judged against. */
  spread: { on_min_p99_ms: number; on_max_p99_ms: number; off_min_p99_ms: number; off_max_p99_ms: number };
  lost: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

/**
 * Propagation with who-may-do-what on (operator tokens, signed commands, each node its own broker
 * user and re-broadcasts checked for their origin) and off (FARM_AUTH=off, one shared user), in
 * alternating rounds of the same run: three fresh nodes per round, latency at latencyRate.
 */
async function runAuthCompare(farm: BenchFarm): Promise<AuthCompare> {
  const modes = Array.from({ length: CFG.authRounds }, (_, i): 'on' | 'off' => (i % 2 === 0 ? 'on' : 'off'));
  const ids = modes.map((m, i) => NODES.map((n) => `${n}-${m}${i}`));
  const accounts = brokerAccounts(farm.ns, ids.flat().map((id) => ({ role: 'node' as const, id })));
  const urls = await provisionBrokerUsers(accounts, farm.rabbitmqUrl);
  const rounds: AuthRound[] = [];
  try {
    for (let i = 0; i < modes.length; i++) {
      const auth = modes[i];
      const nodes = ids[i];
      const env = (id: string): Record<string, string> => (auth === 'on' ? { RABBITMQ_URL: urls.get(brokerUser(farm.ns, 'node', id)) as string, FARM_BROKER_USERS: 'per-process' } : { FARM_AUTH: 'off' });
      await Promise.all(nodes.map((n) => farm.spawn(n, env(n))));
      await Promise.all(nodes.map((n) => farm.ready(n, 60_000)));
      const conn = await amqp.connect(farm.rabbitmqUrl, { noDelay: true });
      try {
        const ch = await conn.createConfirmChannel();
        const sys = new SystemBench(farm, nodes, ch, { bench: process.pid });
        await sys.phase(CFG.latencyRate, CFG.warmupSeconds, CFG.window);
        const r = await sys.phase(CFG.latencyRate, CFG.latencySeconds, CFG.window);
        rounds.push({ auth, p50_ms: r.p50_ms, p99_ms: r.p99_ms, lost: r.lost });
        log(`  auth ${auth} (round ${i + 1}/${modes.length}): p50 ${r.p50_ms} ms, p99 ${r.p99_ms} ms, lost ${r.lost}`);
      } finally {
        await conn.close().catch(() => undefined);
        await Promise.all(nodes.map((n) => farm.stop(n)));
        await farm.dropQueues(nodes).catch(() => undefined);
      }
    }
  } finally {
    await deleteBrokerUsers(accounts.map((a) => a.user)).catch(() => undefined);
  }
  const of = (m: 'on' | 'off') => rounds.filter((r) => r.auth === m);
  const p99s = (m: 'on' | 'off') => of(m).map((r) => r.p99_ms);
  return {
    rounds,
    on_p50_ms: median(of('on').map((r) => r.p50_ms)),
    on_p99_ms: median(p99s('on')),
    off_p50_ms: median(of('off').map((r) => r.p50_ms)),
    off_p99_ms: median(p99s('off')),
    spread: { on_min_p99_ms: Math.min(...p99s('on')), on_max_p99_ms: Math.max(...p99s('on')), off_min_p99_ms: Math.min(...p99s('off')), off_max_p99_ms: Math.max(...p99s('off')) },
    lost: rounds.reduce((a, r) => a + r.lost, 0),
  };
}

interface OvertakeResult {
  /** Ordinary re-broadcasts published into every node's queue before the urgent notification. */
  published: number;
  /** Messages waiting in each node's queue when the urgent one was published. */
  queued_at_urgent: Record<string, number>;
  urgent_overtake_ms: number;
  backlog_drain_ms: number;
  /** Per node, how many backlog notifications it applied before the urgent one. */
  urgent_applied_after: Record<string, number>;
  /** Per node, when it applied the urgent one (ms after the resumption). */
  urgent_applied_ms: Record<string, number>;
  /** When the taker's urgent re-broadcast reached an idle consumer beside the nodes (the bench), ms after the resumption. */
  urgent_rebroadcast_seen_ms: number;
  lost: number;
}

/**
 * Priority overtakes, measured on the system: three fresh nodes, paused (SIGSTOP) while ordinary
 * re-broadcasts (one notification each, as a node sends them) are published into the fanout, so
 * the whole backlog waits in every node's queue however fast the nodes are; behind it an urgent
 * notification (priority 9, routing key `notification.urgent`) enters the ingress. Then the
 * nodes resume (SIGCONT) and the urgent one travels the whole path: one node takes it, applies
 * it and re-broadcasts it on the urgent lane. From the resumption (nothing could move before):
 * when it is applied on all nodes, and when the backlog is. (A node's ring watcher sees its own
 * timer late after the pause and suspects itself, declaring nobody dead.)
 */
async function runOvertake(farm: BenchFarm): Promise<OvertakeResult> {
  const nodes = NODES.map((n) => `${n}-o`);
  await Promise.all(nodes.map((n) => farm.spawn(n, process.env.BENCH_NODE_PREFETCH ? { PREFETCH: process.env.BENCH_NODE_PREFETCH } : {})));
  await Promise.all(nodes.map((n) => farm.ready(n, 60_000)));
  const published = Math.round(CFG.backlog * 1.5);
  const conn = await amqp.connect(farm.rabbitmqUrl, { noDelay: true });
  try {
    const ch = await conn.createConfirmChannel();
    const qch = await conn.createChannel();
    const base = Object.fromEntries(await Promise.all(nodes.map(async (n) => [n, await farm.auditLength(n)] as const)));
    // A witness on the urgent fanout: when the broker delivers the taker's re-broadcast to a consumer that is idle.
    const witness = await qch.assertQueue('', { exclusive: true, autoDelete: true });
    await qch.bindQueue(witness.queue, farm.t.fanoutUrgentExchange, '');
    let witnessAt = NaN;
    await qch.consume(witness.queue, () => {
      if (Number.isNaN(witnessAt)) witnessAt = now();
    }, { noAck: true });
    const headers = { [ORIGIN_HEADER]: 'bench' };
    for (const n of nodes) farm.node(n).signal('SIGSTOP');
    for (let i = 0; i < published; i++) {
      if (!ch.publish(farm.t.fanoutExchange, '', notificationBody(`o${i}`, `o${i}`), { ...notifierOptions(`o${i}`), headers })) await new Promise((r) => ch.once('drain', r));
      if (i % 2000 === 1999) await ch.waitForConfirms();
    }
    await ch.waitForConfirms();
    const queued: Record<string, number> = {};
    for (const n of nodes) queued[n] = (await qch.checkQueue(farm.t.nodeQueue(n))).messageCount;
    const urgent = Buffer.from(JSON.stringify({ ...(JSON.parse(notificationBody('urgent', 'urgent').toString()) as object), priority: 9 }));
    ch.publish(farm.t.ingressExchange, INGRESS_URGENT_ROUTING_KEY, urgent, { ...notifierOptions('urgent'), priority: 9 });
    await ch.waitForConfirms();
    const tUrgent = now();
    for (const n of nodes) farm.node(n).signal('SIGCONT');
    const deadline = now() + 300_000;
    while (now() < deadline) {
      const lens = await Promise.all(nodes.map((n) => farm.auditLength(n)));
      if (lens.every((l, i) => l - base[nodes[i]] >= published + 1)) break;
      await sleep(50);
    }
    let urgentAll = -Infinity;
    let drained = -Infinity;
    let lost = 0;
    const after: Record<string, number> = {};
    const urgentAt: Record<string, number> = {};
    for (const n of nodes) {
      const lines = (await farm.newestAudit(n, (await farm.auditLength(n)) - base[n])).reverse();
      const u = lines.findIndex((l) => l.id === 'urgent');
      if (u < 0) lost++;
      else {
        urgentAll = Math.max(urgentAll, lines[u].at);
        urgentAt[n] = round(lines[u].at - tUrgent, 1);
      }
      after[n] = u;
      const backlog = lines.filter((l) => l.id.startsWith('o'));
      lost += Math.max(0, published - backlog.length);
      for (const l of backlog) if (l.at > drained) drained = l.at;
    }
    return { published, queued_at_urgent: queued, urgent_overtake_ms: round(urgentAll - tUrgent, 1), backlog_drain_ms: round(drained - tUrgent, 1), urgent_applied_after: after, urgent_applied_ms: urgentAt, urgent_rebroadcast_seen_ms: round(witnessAt - tUrgent, 1), lost };
  } finally {
    await conn.close().catch(() => undefined);
    for (const n of nodes) farm.node(n).signal('SIGCONT');
    await Promise.all(nodes.map((n) => farm.stop(n)));
    await farm.dropQueues(nodes).catch(() => undefined);
  }
}

type FloorStep = FloorResult & { sustained: boolean };

/** The broker's own sustained rate, with the same steps and criteria as the system's. */
async function runFloorSteps(url: string, ns: string): Promise<FloorStep[]> {
  const out: FloorStep[] = [];
  for (const rate of CFG.steps) {
    const r = await runFloor(url, ns, rate, CFG.stepSeconds, 0, 'floors');
    const ok = r.achieved_rate >= 0.95 * rate && r.missing === 0 && r.drain_ms <= 500;
    out.push({ ...r, sustained: ok });
    log(`  floor step ${rate}/s: sent at ${r.achieved_rate}/s, drained ${r.drain_ms} ms after, p99 ${r.p99_ms} ms -> ${ok ? 'sustained' : 'NOT sustained'}`);
    if (!ok) break;
  }
  return out;
}

const section = <T>(name: string, errors: Record<string, string>, fn: () => Promise<T>): Promise<T | undefined> => runSection(log, name, errors, fn);

async function main(): Promise<number> {
  const started = Date.now();
  const brokers = await resolveBrokers();
  const ns = `bench-${Date.now().toString(36)}-${process.pid}`;
  const redis = new Redis(brokers.redisUrl, { maxRetriesPerRequest: 3 });
  const farm = new BenchFarm(ns, brokers.rabbitmqUrl, brokers.redisUrl, redis);
  const outageBench = new OutageBench(`${ns}-outage`, brokers.rabbitmqUrl, CFG.outage, log);
  const errors: Record<string, string> = {};
  let cleaned: Promise<string[]> | undefined;
  const cleanup = (): Promise<string[]> => (cleaned ??= (async () => {
    await farm.stopAll();
    const outageProblems = runs('outage') ? await outageBench.close() : [];
    const floors = ['floor', 'floorp', 'floorq', 'floors'].map((f) => floorNames(ns, f));
    const problems = await farm.cleanup(floors.flatMap((f) => f.queues), floors.map((f) => f.exchange));
    redis.disconnect();
    await brokers.stop();
    return [...outageProblems, ...problems];
  })());
  cleanUpOnExit(log, 'stopping repeaters', cleanup);
  const load0 = loadavg();
  const idle = new CpuMeter({}).start();
  await sleep(1000);
  const busyBefore = idle.stop().machine_busy_pct;
  log(`namespace ${ns}${QUICK ? ' (quick)' : ''}${ONLY ? `; only ${ONLY.join(', ')}` : ''}; logs in ${farm.logDir}; machine ${busyBefore}% busy before the run (others' work)`);
  let micro: MicroResult | undefined;
  let floor: FloorResult | undefined;
  let floorPriority: FloorResult | undefined;
  let floorQuorum: FloorResult | undefined;
  let lanes: LaneFloorResult[] | undefined;
  let overtake: OvertakeResult | undefined;
  let floorSteps: FloorStep[] | undefined;
  let relay: RelayFloorResult | undefined;
  let system: SystemResult | undefined;
  let hs: HandshakeResult | undefined;
  let authCompare: AuthCompare | undefined;
  let outage: OutageResult | undefined;
  let problems: string[];
  try {
    if (runs('check')) micro = await section('check()', errors, () => runMicro(brokers.redisUrl, ns, CFG.checkCalls, CFG.redisCalls));
    if (runs('floor')) {
      floor = await section('floor', errors, () => runFloor(brokers.rabbitmqUrl, ns, CFG.latencyRate, CFG.latencySeconds, CFG.warmupSeconds));
      // Information: the same floor on priority queues, as the farm's queues are declared.
      floorPriority = await section('floor (priority queues)', errors, () => runFloor(brokers.rabbitmqUrl, ns, CFG.latencyRate, CFG.priorityFloorSeconds, CFG.warmupSeconds, 'floorp', { 'x-max-priority': 9 }));
      floorQuorum = await section('floor (quorum queues)', errors, () => runFloor(brokers.rabbitmqUrl, ns, CFG.latencyRate, CFG.priorityFloorSeconds, CFG.warmupSeconds, 'floorq', { 'x-queue-type': 'quorum' }));
      floorSteps = await section('floor steps', errors, () => runFloorSteps(brokers.rabbitmqUrl, ns));
    }
    if (runs('lanes')) {
      lanes = [];
      for (const type of ['classic', 'quorum'] as const) {
        const r = await section(`lanes on ${type} queues`, errors, () => runLaneFloor(brokers.rabbitmqUrl, ns, type, CFG.backlog));
        if (r) {
          lanes.push(r);
          log(`  ${type}: urgent after ${r.urgent_ms} ms (${r.urgent_after} of ${r.backlog} before it), backlog drained in ${r.drain_ms} ms`);
        }
      }
    }
    if (runs('relay')) {
      relay = await section('two-hop floor', errors, () =>
        runRelayFloor(brokers.rabbitmqUrl, ns, { highRate: CFG.latencyRate, lowRate: CFG.lowRate, warmupSeconds: CFG.warmupSeconds, lowSeconds: CFG.lowRateSeconds, highSeconds: CFG.latencySeconds }),
      );
      if (relay) for (const ph of [relay.low_rate, relay.latency]) log(`  ${ph.rate}/s: p50 ${ph.p50_ms} ms, p99 ${ph.p99_ms} ms, max ${ph.max_ms} ms, missing ${ph.missing}; first hop p50 ${ph.taker.p50_ms} ms, p99 ${ph.taker.p99_ms} ms; CPU ${JSON.stringify(ph.cpu.by_process)}, machine ${ph.cpu.machine_busy_pct}% busy`);
    }
    if (runs('system')) system = await section('system', errors, () => runSystem(farm));
    if (runs('overtake')) {
      overtake = await section('overtake', errors, () => runOvertake(farm));
      if (overtake) log(`  urgent on all nodes ${overtake.urgent_overtake_ms} ms after its publication (${JSON.stringify(overtake.urgent_applied_after)} applied before it, at ${JSON.stringify(overtake.urgent_applied_ms)} ms; its re-broadcast reached an idle consumer at ${overtake.urgent_rebroadcast_seen_ms} ms), backlog (${JSON.stringify(overtake.queued_at_urgent)} waiting then) drained ${overtake.backlog_drain_ms} ms after; lost ${overtake.lost}`);
    }
    if (runs('auth')) authCompare = await section('auth on vs off', errors, () => runAuthCompare(farm));
    if (runs('handshake')) hs = await section('handshake', errors, () => runHandshake(farm, CFG.handshakeEntries, CFG.handshakeRounds));
    if (runs('outage')) outage = await section('outage', errors, () => outageBench.run());
  } finally {
    problems = await cleanup();
  }
  if (problems.length) log(`cleanup problems: ${problems.join('; ')}`);
  if (system && !system.counts_match) errors['system counts'] = `GET /v1/availability counts ${JSON.stringify(system.counts)}, expected ${system.expected_count} on every node`;
  if (hs && hs.runs.some((r) => !r.digests_equal)) errors['handshake digests'] = 'digests of the two nodes differ after POST /v1/sync';

  const n = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);
  const figures: Figures = {
    floor_p50_ms: n(floor?.p50_ms),
    floor_p99_ms: n(floor?.p99_ms),
    p50_ms: n(system?.latency.p50_ms),
    p99_ms: n(system?.latency.p99_ms),
    max_ms: n(system?.latency.max_ms),
    sustained_per_s: n(system?.sustained_per_s),
    lost: n(system?.lost),
    check_ns: n(micro?.check_ns),
    map_get_ns: n(micro?.map_get_ns),
    redis_get_ns: n(micro?.redis_get_ns),
    verify_ns: n(micro?.verify_ns),
    auth_on_p99_ms: n(authCompare?.on_p99_ms),
    auth_off_p99_ms: n(authCompare?.off_p99_ms),
    handshake_ms: n(hs?.handshake_ms),
    handshake_bytes: n(hs?.handshake_bytes),
    full_state_bytes: n(hs?.full_state_bytes),
    rss_mb: n(hs?.rss_mb),
    rss_settled_mb: n(hs?.rss_settled_mb),
    outage_lost: n(outage?.lost),
    outage_dead_lettered: n(outage?.dead_lettered),
    outage_recover_ms: outage?.recover_ms ?? null,
    low_rate_p99_ms: n(system?.low_rate.p99_ms),
    cpu_ms_per_1000: system ? n(cpuMsPer1000(system.latency.cpu, system.latency.sent)) : null,
    // Per message metered: the floor's meter runs from its first warm-up send (until 2026-11-28 this
    // divided by the measured messages alone, overstating the floor by the warm-up's share: 10%).
    floor_cpu_ms_per_1000: floor ? n(cpuMsPer1000(floor.cpu, floor.cpu_messages)) : null,
    urgent_overtake_ms: n(overtake?.urgent_overtake_ms),
    backlog_drain_ms: n(overtake?.backlog_drain_ms),
    event_loop_p99_ms: n(system?.event_loop_p99_ms),
    floor_quorum_p99_ms: n(floorQuorum?.p99_ms),
    taker_p99_ms: n(system?.latency.taker.p99_ms),
    low_rate_taker_p99_ms: n(system?.low_rate.taker.p99_ms),
    notifications_per_rebroadcast: n(system?.latency.notifications_per_rebroadcast),
    low_rate_notifications_per_rebroadcast: n(system?.low_rate.notifications_per_rebroadcast),
    floor_two_hop_p99_ms: n(relay?.latency.p99_ms),
    floor_two_hop_low_rate_p99_ms: n(relay?.low_rate.p99_ms),
  };
  const lowP99 = figures.low_rate_p99_ms;
  const floorSustained = floorSteps ? floorSteps.filter((f) => f.sustained).reduce((a, f) => Math.max(a, f.rate), 0) : null;
  const rows = goals(figures, {
    floor_priority_p99_ms: n(floorPriority?.p99_ms),
    low_rate: CFG.lowRate,
    low_rate_p99_ms: lowP99,
    low_rate_floor_ratio: lowP99 !== null && figures.floor_p99_ms ? round(lowP99 / figures.floor_p99_ms, 1) : null,
    rss_empty_mb: system ? Math.max(...Object.values(system.rss_empty_mb)) : null,
    peak_applied_per_s: n(system?.peak_applied_per_s),
    floor_sustained_per_s: floorSustained,
    check_hot16_ns: n(micro?.check_hot16_ns),
    hmac_ns: n(micro?.hmac_ns),
    auth_rounds: authCompare ? authCompare.rounds.length : null,
    auth_on_p50_ms: n(authCompare?.on_p50_ms),
    auth_off_p50_ms: n(authCompare?.off_p50_ms),
    auth_off_max_p99_ms: n(authCompare?.spread.off_max_p99_ms),
    auth_spread: authCompare ? `p99 on ${authCompare.spread.on_min_p99_ms}-${authCompare.spread.on_max_p99_ms} ms, off ${authCompare.spread.off_min_p99_ms}-${authCompare.spread.off_max_p99_ms} ms` : 'n/a',
    rss_small_young_gen_mb: n(hs?.rss_mb_small_young_gen),
    rss_peak_mb: n(hs?.rss_peak_mb),
    floor_sustained_for_goal: floorSustained,
    lanes: lanes ? lanes.map((l) => `${l.queue_type}: urgent after ${l.urgent_ms} ms (${l.urgent_after} before it) of ${l.drain_ms} ms`).join('; ') : 'n/a',
    cpu_by_process: system ? Object.entries(system.latency.cpu.by_process).map(([k, v]) => `${k} ${v}`).join(', ') : 'n/a',
    minor_gc: system ? `${system.minor_gc.count} pauses, ${system.minor_gc.ms} ms (${system.minor_gc.max_share_pct}% of the phase)` : 'n/a',
    outage_rounds: outage ? outage.rounds.length : null,
    outage_published_during: n(outage?.published_during_outage),
    outage_applied_ms: outage?.applied_ms ?? null,
    outage_health: outage ? Object.entries(outage.health_during).map(([k, v]) => `${k} x${v}`).join(', ') || 'none seen' : 'n/a',
  });
  const durationS = round((Date.now() - started) / 1000, 1);
  const doc = {
    ...figures,
    floor_sustained_per_s: floorSustained,
    rss_mb_small_young_gen: n(hs?.rss_mb_small_young_gen),
    outage_published_during: n(outage?.published_during_outage),
    outage_health_during: outage?.health_during ?? null,
    date: new Date().toISOString(),
    duration_s: durationS,
    quick: QUICK,
    only: ONLY ?? null,
    namespace: ns,
    config: CFG,
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, total_mem_mb: Math.round(totalmem() / 2 ** 20), node: process.version, platform: process.platform, loadavg_before: load0, busy_before_pct: busyBefore, loadavg_after: loadavg() },
    goals: rows,
    all_goals_met: rows.every((r) => r.met !== false) && Object.keys(errors).length === 0,
    details: { check: micro ?? null, auth: authCompare ?? null, floor: floor ?? null, floor_priority_queues: floorPriority ?? null, floor_quorum_queues: floorQuorum ?? null, floor_two_hop: relay ?? null, lanes: lanes ?? null, overtake: overtake ?? null, system: system ?? null, handshake: hs ?? null, outage: outage ?? null },
    errors,
    cleanup_problems: problems,
    restarts: farm.restarts,
  };
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  const file = ONLY ? `propagation-${ONLY.join('+')}.json` : 'propagation.json';
  writeFileSync(join(dir, file), `${JSON.stringify(doc, null, 2)}\n`);
  // A run of some phases shows only their rows.
  console.log(`\n${table(ONLY ? rows.filter((r) => r.ours !== 'n/a') : rows)}\n`);
  if (system) console.log(`sustained steps: ${system.steps.map((s) => `${s.rate}/s ${s.sustained ? 'ok' : `failed (sent ${s.achieved_rate}/s, late ${s.late}, lost ${s.lost})`}`).join(', ')}`);
  if (hs) console.log(`handshakes: ${hs.runs.map((r) => `round ${r.round}: ${r.ms} ms, ${r.bytes_out + r.bytes_in} B, learned ${r.learned}, sent ${r.sent}, digests ${r.digests_equal ? 'equal' : 'DIFFER'}`).join('; ')}${hs.startup ? `; at start-up: ${hs.startup.ms} ms, learned ${hs.startup.learned}` : ''}`);
  for (const [k, v] of Object.entries(errors)) console.log(`error in ${k}: ${v}`);
  if (outage) console.log(`outages: ${outage.rounds.map((r) => `round ${r.round}: ${r.published_during_outage} sent while refused, backlog ${r.backlog}, stored on all nodes ${r.recover_ms} ms after (first writes ${Object.values(r.first_write_ms).join('/')} ms), lost ${r.lost}`).join('; ')}; dead-lettered ${outage.dead_lettered}`);
  console.log(`wrote bench/results/${file} in ${durationS} s`);
  return Object.keys(errors).length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
