/**
 * Polling benchmark (`npm run bench:polling`; BENCH_QUICK=1 for a short run). Issue 3.
 *
 * In one run, in a fresh namespace deleted at the end:
 *  - 200 simulated servers with 10 services each (the attendant's own Compiler with real tcp
 *    checks, served by a bare reply-to server, hosted by two child processes), polled (a) one query
 *    per service, the usual way, and (b) one compilation per server through the poller's own
 *    engine; cycle time, messages and bytes of each, and their ratio;
 *  - the compilation cycle of 1,000 such servers (tcp checks, and in-memory checks beside it);
 *  - the answer time of the real attendant app with 10 checks of four kinds, beside the same
 *    checks run serially and the RPC round trip to an echo responder.
 * Results go to bench/results/polling.json and a table on stdout.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import * as amqp from 'amqplib';
import { PollerEnv } from '../libs/common/src/config/monitoring.env';
import { topology } from '../libs/common/src/contracts/topology';
import { AmqpClient } from '../libs/common/src/messaging/amqp-client';
import { RpcClient } from '../libs/common/src/messaging/rpc';
import { connectRedis, createRedis } from '../libs/common/src/redis/redis-connection';
import { resolveBrokers } from '../libs/common/src/testing/brokers';
import { REPO_ROOT } from '../libs/common/src/testing/farm-process';
import { findProcess } from './lib/cpu';
import { AttendantResult, attendantQueues, runAttendantBench } from './lib/polling-attendant';
import { CycleRun, Mode, PollingSide } from './lib/polling-cycles';
import { CpuLedger, PollingHost, startServices } from './lib/polling-hosts';
import { HostStats, SERVICES_PER_SERVER, serverId } from './lib/polling-protocol';
import { Goal, table } from './lib/report';
import { cleanUpOnExit, errorMessage, round, runSection, sleep } from './lib/util';

const QUICK = process.env.BENCH_QUICK === '1';
const CFG = {
  servers: 200,
  bigServers: 1000,
  hosts: 2,
  services: SERVICES_PER_SERVER,
  /** Measured cycles of each mode, after warm-up cycles of each. */
  runs: Number(process.env.BENCH_RUNS ?? (QUICK ? 2 : 5)),
  warmups: QUICK ? 1 : 2,
  concurrency: Number(process.env.BENCH_CONCURRENCY ?? new PollerEnv().POLL_CONCURRENCY),
  timeoutMs: new PollerEnv().POLL_TIMEOUT_MS,
  /** Simulated attendants per AMQP connection in a host process. */
  perConnection: Number(process.env.BENCH_PER_CONNECTION ?? 50),
  attendantWarmup: QUICK ? 10 : 30,
  attendantRounds: QUICK ? 100 : 300,
  serialRounds: QUICK ? 30 : 100,
  /** Waits of each check in the "checks elsewhere" head-to-heads: a LAN connect, a typical plugin. */
  remoteCheckMs: (process.env.BENCH_REMOTE_CHECK_MS ?? '2,10').split(',').map(Number),
};
const GOALS = { ratio: 5, cycle1000Ms: 2000, attendantP99Ms: 50 };

const log = (msg: string): void => console.log(`[bench:polling ${new Date().toISOString().slice(11, 19)}] ${msg}`);

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

interface ModeSummary {
  median_ms: number;
  min_ms: number;
  max_ms: number;
  messages: number;
  bytes: number;
  bytes_out: number;
  bytes_in: number;
  runs_ms: number[];
  /** CPU ms per cycle of each process, and its share of one core while cycles ran. */
  cpu: ReturnType<CpuLedger['summary']>;
}

function summarizeRuns(runs: CycleRun[], ledger: CpuLedger): ModeSummary {
  const ms = runs.map((r) => r.ms);
  const last = runs[runs.length - 1];
  if (runs.some((r) => r.messages !== last.messages)) throw new Error(`${last.mode}: messages per cycle differ between runs: ${runs.map((r) => r.messages).join(', ')}`);
  return {
    median_ms: round(median(ms), 1), min_ms: Math.min(...ms), max_ms: Math.max(...ms), messages: last.messages,
    bytes: last.bytes_out + last.bytes_in, bytes_out: last.bytes_out, bytes_in: last.bytes_in, runs_ms: ms, cpu: ledger.summary(),
  };
}

/** A cycle that lost or refused anything, or tried to publish a notification, fails the bench. */
function mustBeClean(run: CycleRun, side: PollingSide, what: string): CycleRun {
  const expected = run.mode === 'per-service' ? run.servers * CFG.services : run.servers;
  if (run.failures > 0 || run.replies !== expected || run.requests !== expected || run.published > 0) {
    throw new Error(`${what}: ${run.failures} failed of ${run.requests} requests (${run.replies} replies, ${expected} expected, ${run.published} published): ${side.problems.join(' | ')}`);
  }
  return run;
}

interface HeadToHead {
  checks: string;
  per_service: ModeSummary;
  compilation: ModeSummary;
  ratio: number;
  message_ratio: number;
}

interface BigCycle {
  tcp: ModeSummary;
  memory: ModeSummary;
  /** Time for the hosts to add 400 attendants each (queues declared and consumed). */
  setup_ms: number;
  /** CPU of each process while nothing is polled (1,000 consumers idle), % of one core. */
  idle_pct_of_core: Record<string, number>;
  /** Every hosted attendant compiling once in its host, no broker, both hosts at once. */
  local_compile_ms: { tcp: number[]; memory: number[] };
}

const section = <T>(name: string, errors: Record<string, string>, fn: () => Promise<T>): Promise<T | undefined> => runSection(log, name, errors, fn);

async function main(): Promise<number> {
  const started = Date.now();
  const brokers = await resolveBrokers();
  const ns = `bench-polling-${randomBytes(4).toString('hex')}`;
  const logDir = join(REPO_ROOT, '.farm', 'logs', ns);
  const quiet = { log: () => undefined, warn: (m: string) => log(`amqp: ${m}`), error: (m: string) => log(`amqp: ${m}`) };
  // As the poller app connects to Redis (auto-pipelining on).
  const redis = createRedis(brokers.redisUrl, { log: () => undefined, warn: (m) => log(`redis: ${m}`), error: (m) => log(`redis: ${m}`) }, `${ns}.bench-poller`);
  const client = new AmqpClient({ url: brokers.rabbitmqUrl, name: 'bench polling poller', logger: quiet });
  const rpc = new RpcClient(client);
  const side = new PollingSide(ns, rpc, redis, CFG.concurrency);
  const hosts = Array.from({ length: CFG.hosts }, (_, i) => new PollingHost(`host-${i + 1}`));
  const services = await startServices();
  const started_ids: string[] = [];
  const errors: Record<string, string> = {};

  let cleaned: Promise<string[]> | undefined;
  const cleanup = (): Promise<string[]> => (cleaned ??= (async () => {
    const problems: string[] = [];
    await Promise.all(hosts.map((h) => h.stop().catch((e: unknown) => problems.push(`${h.name}: ${errorMessage(e)}`))));
    await client.stop().catch(() => undefined);
    services.proc.kill('SIGTERM');
    // The attendants' queues are exclusive and auto-deleted with their connections; delete
    // whatever is left anyway, with the section's other queues.
    const queues = [...started_ids.map((id) => topology(ns).attendantQueue(id)), ...attendantQueues(ns)];
    try {
      const conn = await amqp.connect(brokers.rabbitmqUrl, { noDelay: true });
      let ch: amqp.Channel | undefined;
      for (const q of queues) {
        if (!ch) {
          ch = await conn.createChannel();
          ch.on('error', () => undefined);
          ch.on('close', () => (ch = undefined));
        }
        await ch.deleteQueue(q).catch((e: unknown) => {
          ch = undefined;
          problems.push(`queue ${q}: ${errorMessage(e)}`);
        });
      }
      await conn.close();
    } catch (err) {
      problems.push(`RabbitMQ: ${errorMessage(err)}`);
    }
    try {
      let cursor = '0';
      let deleted = 0;
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) deleted += await redis.del(...keys);
      } while (cursor !== '0');
      log(`cleanup: ${queues.length} queue names deleted, ${deleted} Redis keys deleted`);
    } catch (err) {
      problems.push(`Redis: ${errorMessage(err)}`);
    }
    redis.disconnect();
    await brokers.stop();
    return problems;
  })());
  cleanUpOnExit(log, 'stopping hosts', cleanup);

  const pids: Record<string, number | undefined> = { broker: findProcess('beam.smp'), redis: findProcess('redis-server'), poller: process.pid };
  hosts.forEach((h) => (pids[h.name] = h.pid));
  pids.services = services.proc.pid;
  const load0 = loadavg();
  log(`namespace ${ns}${QUICK ? ' (quick)' : ''}; ${CFG.hosts} host processes, concurrency ${CFG.concurrency}, ${CFG.runs} runs per mode`);

  /** Adds attendants to the hosts (split evenly) until they hold `total`. */
  const grow = async (total: number): Promise<number> => {
    const t0 = performance.now();
    const ids = Array.from({ length: total - started_ids.length }, (_, i) => serverId(started_ids.length + i));
    started_ids.push(...ids);
    const per = Math.ceil(ids.length / hosts.length);
    await Promise.all(hosts.map((h, i) => h.ask({ cmd: 'start', ids: ids.slice(i * per, (i + 1) * per), ns, url: brokers.rabbitmqUrl, perConnection: CFG.perConnection, ports: services.ports })));
    return round(performance.now() - t0, 0);
  };
  const hostStats = async (): Promise<HostStats[]> => Promise.all(hosts.map((h) => h.stats()));

  let h2h: HeadToHead | undefined;
  let h2hMemory: HeadToHead | undefined;
  const h2hRemote = new Map<number, HeadToHead | undefined>();

  /** (a) and (b) over the same servers: warm-up, then alternating runs, medians and CPU per cycle. */
  const headToHead = async (ids: string[], checks: string): Promise<HeadToHead> => {
    const poller = side.poller();
    for (let i = 0; i < CFG.warmups; i++) {
      mustBeClean(await side.perServiceCycle(ids), side, `warm-up (a), ${checks} checks`);
      mustBeClean(await side.compilationCycle(poller, ids), side, `warm-up (b), ${checks} checks`);
    }
    const runs: Record<Mode, CycleRun[]> = { 'per-service': [], compilation: [] };
    const ledgers: Record<Mode, CpuLedger> = { 'per-service': new CpuLedger(pids), compilation: new CpuLedger(pids) };
    for (let i = 0; i < CFG.runs; i++) {
      await sleep(200);
      ledgers['per-service'].begin();
      const a = mustBeClean(await side.perServiceCycle(ids), side, `run ${i + 1} (a), ${checks} checks`);
      ledgers['per-service'].end();
      await sleep(200);
      ledgers.compilation.begin();
      const b = mustBeClean(await side.compilationCycle(poller, ids), side, `run ${i + 1} (b), ${checks} checks`);
      ledgers.compilation.end();
      runs['per-service'].push(a);
      runs.compilation.push(b);
      log(`  run ${i + 1}: (a) ${a.ms} ms, ${a.messages} messages; (b) ${b.ms} ms, ${b.messages} messages`);
    }
    const perService = summarizeRuns(runs['per-service'], ledgers['per-service']);
    const compilation = summarizeRuns(runs.compilation, ledgers.compilation);
    log(`  CPU ms per cycle (a): ${JSON.stringify(perService.cpu.per_interval_ms)}; (b): ${JSON.stringify(compilation.cpu.per_interval_ms)}`);
    return { checks, per_service: perService, compilation, ratio: round(perService.median_ms / compilation.median_ms, 2), message_ratio: round(perService.messages / compilation.messages, 2) };
  };
  let big: BigCycle | undefined;
  let att: AttendantResult | undefined;
  let setup200 = 0;
  let stats: HostStats[];
  let problems: string[];
  try {
    await Promise.all([client.start(), connectRedis(redis)]);
    h2h = await section(`(a)/(b) ${CFG.servers} servers, tcp checks`, errors, async () => {
      setup200 = await grow(CFG.servers);
      log(`  ${CFG.servers} simulated attendants consuming (${setup200} ms)`);
      return headToHead(started_ids.slice(0, CFG.servers), 'tcp');
    });
    // Information: the same with in-memory checks, i.e. without the checks' own work (which on a
    // real farm runs on each server's CPU, not on the poller's and the broker's).
    h2hMemory = await section(`(a)/(b) ${CFG.servers} servers, in-memory checks`, errors, async () => {
      await Promise.all(hosts.map((h) => h.ask({ cmd: 'runner', mode: 'memory' })));
      try {
        return await headToHead(started_ids.slice(0, CFG.servers), 'memory');
      } finally {
        await Promise.all(hosts.map((h) => h.ask({ cmd: 'runner', mode: 'tcp' })));
      }
    });

    // The simulated servers' checks waiting REMOTE_CHECK_MS on their services instead of using the
    // bench machine's CPU: what the poller sees of real servers, each checking on its own CPU.
    for (const latencyMs of CFG.remoteCheckMs) {
      h2hRemote.set(latencyMs, await section(`(a)/(b) ${CFG.servers} servers, checks of ${latencyMs} ms elsewhere`, errors, async () => {
        await Promise.all(hosts.map((h) => h.ask({ cmd: 'runner', mode: 'remote', latencyMs })));
        try {
          return await headToHead(started_ids.slice(0, CFG.servers), `remote ${latencyMs} ms`);
        } finally {
          await Promise.all(hosts.map((h) => h.ask({ cmd: 'runner', mode: 'tcp' })));
        }
      }));
    }

    big = await section(`${CFG.bigServers} servers`, errors, async () => {
      const setup = await grow(CFG.bigServers);
      log(`  ${CFG.bigServers} simulated attendants consuming (+${CFG.bigServers - CFG.servers} in ${setup} ms)`);
      const ids = started_ids.slice(0, CFG.bigServers);
      const idle = new CpuLedger(pids);
      idle.begin();
      await sleep(2000);
      idle.end();
      log(`  idle CPU, % of a core: ${JSON.stringify(idle.summary().pct_of_core)}`);
      const poller = side.poller();
      const local: BigCycle['local_compile_ms'] = { tcp: [], memory: [] };
      const result: Partial<Record<'tcp' | 'memory', ModeSummary>> = {};
      for (const mode of ['tcp', 'memory'] as const) {
        await Promise.all(hosts.map((h) => h.ask({ cmd: 'runner', mode })));
        mustBeClean(await side.compilationCycle(poller, ids), side, `warm-up ${CFG.bigServers} (${mode} checks)`);
        const ledger = new CpuLedger(pids);
        const runs: CycleRun[] = [];
        for (let i = 0; i < CFG.runs; i++) {
          await sleep(300);
          ledger.begin();
          runs.push(mustBeClean(await side.compilationCycle(poller, ids), side, `run ${i + 1} ${CFG.bigServers} (${mode} checks)`));
          ledger.end();
          log(`  run ${i + 1} (${mode} checks): ${runs[i].ms} ms`);
        }
        result[mode] = summarizeRuns(runs, ledger);
        log(`  CPU ms per cycle (${mode} checks): ${JSON.stringify(result[mode]?.cpu.per_interval_ms)}`);
        // Diagnostics: the hosts' share alone, every attendant compiling once without the broker.
        const limit = Math.ceil(CFG.concurrency / hosts.length);
        const t0 = performance.now();
        const locals = await Promise.all(hosts.map((h) => h.ask<{ ms: number; failures: number; failed: string[] }>({ cmd: 'compile-locally', limit })));
        if (locals.some((l) => l.failures > 0)) throw new Error(`local compilations with failing checks (${mode}): ${locals.flatMap((l) => l.failed).join('; ')}`);
        local[mode].push(round(performance.now() - t0, 1), ...locals.map((l) => l.ms));
      }
      await Promise.all(hosts.map((h) => h.ask({ cmd: 'runner', mode: 'tcp' })));
      return { tcp: result.tcp as ModeSummary, memory: result.memory as ModeSummary, setup_ms: setup, idle_pct_of_core: idle.summary().pct_of_core, local_compile_ms: local };
    });
    stats = await hostStats().catch(() => []);
    const setClocks = stats.reduce((a, s) => a + s.setClock, 0);
    const bad = stats.reduce((a, s) => a + s.bad, 0);
    if (setClocks > 0) errors['set-clock'] = `the poller set ${setClocks} clocks of simulated attendants (they share this machine's clock): its clock estimate is off under load`;
    if (bad > 0) errors['bad requests'] = `the simulated attendants refused ${bad} requests`;
    // The attendant is measured alone: the hosts (and their 1,000 consumers) go first.
    await Promise.all(hosts.map((h) => h.stop()));
    services.proc.kill('SIGTERM');

    att = await section('attendant answer', errors, () => runAttendantBench({
      ns, rabbitmqUrl: brokers.rabbitmqUrl, redisUrl: brokers.redisUrl, rpc, logDir, warmup: CFG.attendantWarmup, rounds: CFG.attendantRounds, serialRounds: CFG.serialRounds, log: (m) => log(`  ${m}`),
    }));
  } finally {
    problems = await cleanup();
  }
  if (problems.length) log(`cleanup problems: ${problems.join('; ')}`);

  const n = (v: number | undefined): number | null => (v === undefined || !Number.isFinite(v) ? null : v);
  const figures = {
    per_service_cycle_ms: n(h2h?.per_service.median_ms),
    compilation_cycle_ms: n(h2h?.compilation.median_ms),
    per_service_messages: n(h2h?.per_service.messages),
    compilation_messages: n(h2h?.compilation.messages),
    cycle_1000_ms: n(big?.tcp.median_ms),
    attendant_p99_ms: n(att?.answer.p99_ms),
  };
  const extras = {
    cycle_ratio: n(h2h?.ratio),
    per_service_cycle_memory_checks_ms: n(h2hMemory?.per_service.median_ms),
    compilation_cycle_memory_checks_ms: n(h2hMemory?.compilation.median_ms),
    cycle_ratio_memory_checks: n(h2hMemory?.ratio),
    ...Object.fromEntries([...h2hRemote].flatMap(([ms, h]) => [
      [`per_service_cycle_remote_${ms}ms_checks_ms`, n(h?.per_service.median_ms)],
      [`compilation_cycle_remote_${ms}ms_checks_ms`, n(h?.compilation.median_ms)],
      [`cycle_ratio_remote_${ms}ms_checks`, n(h?.ratio)],
    ])) as Record<string, number | null>,
    message_ratio: n(h2h?.message_ratio),
    per_service_bytes: n(h2h?.per_service.bytes),
    compilation_bytes: n(h2h?.compilation.bytes),
    cycle_1000_memory_checks_ms: n(big?.memory.median_ms),
    attendant_p50_ms: n(att?.answer.p50_ms),
    attendant_max_ms: n(att?.answer.max_ms),
    attendant_compiled_in_p99_ms: n(att?.compiled_in.p99_ms),
    serial_checks_p50_ms: n(att?.serial_checks.p50_ms),
    serial_checks_p99_ms: n(att?.serial_checks.p99_ms),
    rpc_floor_p50_ms: n(att?.echo.p50_ms),
    rpc_floor_p99_ms: n(att?.echo.p99_ms),
  };
  const known = (...vs: (number | null)[]): boolean => vs.every((v) => v !== null);
  const met = {
    ratio: known(extras.cycle_ratio) ? (extras.cycle_ratio as number) >= GOALS.ratio : null,
    cycle_1000: known(figures.cycle_1000_ms) ? (figures.cycle_1000_ms as number) <= GOALS.cycle1000Ms : null,
    attendant_p99: known(figures.attendant_p99_ms) ? (figures.attendant_p99_ms as number) <= GOALS.attendantP99Ms : null,
  };
  const fmt = (v: number | null, unit = ' ms', digits = 1): string => (v === null ? 'n/a' : `${Number(v.toFixed(digits)).toLocaleString('en-US')}${unit}`);
  const kb = (v: number | null): string => (v === null ? 'n/a' : `${(v / 1000).toFixed(1)} kB`);
  const rows: Goal[] = [
    { name: `cycle, ${CFG.servers} servers x ${CFG.services} services`, ours: `(b) compilation ${fmt(figures.compilation_cycle_ms)}`, baseline: `(a) per service ${fmt(figures.per_service_cycle_ms)}`, goal: '(info)', met: null },
    { name: 'cycle-time ratio (a)/(b)', ours: fmt(extras.cycle_ratio, 'x', 2), baseline: '', goal: `>= ${GOALS.ratio}`, met: met.ratio },
    {
      name: '  same, in-memory checks',
      ours: `${fmt(extras.cycle_ratio_memory_checks, 'x', 2)}: (b) ${fmt(extras.compilation_cycle_memory_checks_ms)}`,
      baseline: `(a) ${fmt(extras.per_service_cycle_memory_checks_ms)}`,
      goal: '(info)',
      met: null,
    },
    ...[...h2hRemote].map(([ms, h]): Goal => ({
      name: `  same, checks of ${ms} ms elsewhere`,
      ours: `${fmt(n(h?.ratio), 'x', 2)}: (b) ${fmt(n(h?.compilation.median_ms))}`,
      baseline: `(a) ${fmt(n(h?.per_service.median_ms))}`,
      goal: '(info)',
      met: null,
    })),
    { name: 'messages per cycle', ours: `(b) ${fmt(figures.compilation_messages, '', 0)}`, baseline: `(a) ${fmt(figures.per_service_messages, '', 0)}`, goal: '(info)', met: null },
    { name: 'bytes per cycle', ours: `(b) ${kb(extras.compilation_bytes)}`, baseline: `(a) ${kb(extras.per_service_bytes)}`, goal: '(info)', met: null },
    { name: `compilation cycle, ${CFG.bigServers} servers`, ours: `${fmt(figures.cycle_1000_ms)} (tcp checks)`, baseline: `in-memory checks ${fmt(extras.cycle_1000_memory_checks_ms)}`, goal: `<= ${GOALS.cycle1000Ms.toLocaleString('en-US')} ms`, met: met.cycle_1000 },
    { name: 'attendant answer p50, 10 checks', ours: fmt(extras.attendant_p50_ms, ' ms', 2), baseline: `serial checks ${fmt(extras.serial_checks_p50_ms, ' ms', 2)}; RPC floor ${fmt(extras.rpc_floor_p50_ms, ' ms', 2)}`, goal: '(info)', met: null },
    { name: 'attendant answer p99, 10 checks', ours: fmt(figures.attendant_p99_ms, ' ms', 2), baseline: `serial checks ${fmt(extras.serial_checks_p99_ms, ' ms', 2)}; RPC floor ${fmt(extras.rpc_floor_p99_ms, ' ms', 2)}`, goal: `<= ${GOALS.attendantP99Ms} ms`, met: met.attendant_p99 },
  ];
  const durationS = round((Date.now() - started) / 1000, 1);
  const doc = {
    ...figures,
    ...extras,
    goals_met: met,
    all_goals_met: Object.values(met).every((m) => m === true) && Object.keys(errors).length === 0,
    date: new Date().toISOString(),
    duration_s: durationS,
    quick: QUICK,
    namespace: ns,
    config: { ...CFG, goals: GOALS },
    machine: { cpus: cpus().length, cpu_model: cpus()[0]?.model, total_mem_mb: Math.round(totalmem() / 2 ** 20), node: process.version, platform: process.platform, loadavg_before: load0, loadavg_after: loadavg() },
    goals: rows,
    details: { head_to_head: h2h ?? null, head_to_head_memory_checks: h2hMemory ?? null, head_to_head_remote_checks: Object.fromEntries(h2hRemote), setup_200_ms: setup200, cycle_1000: big ?? null, attendant: att ?? null, hosts: stats },
    errors,
    cleanup_problems: problems,
  };
  const dir = join(REPO_ROOT, 'bench', 'results');
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'polling.json'), `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`\n${table(rows)}\n`);
  for (const [k, v] of Object.entries(errors)) console.log(`error in ${k}: ${v}`);
  console.log(`wrote bench/results/polling.json in ${durationS} s`);
  return Object.keys(errors).length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
