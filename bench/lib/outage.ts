/**
 * Phase "outage" of the propagation benchmark (issue 9): three repeaters on a redis-server of the
 * bench's own (never the shared one), notifications published at a steady rate, and during the
 * stream Redis refuses writes for a few seconds (maxmemory 1, noeviction; then maxmemory 0).
 * Measures what was lost or dead-lettered, what health answered meanwhile, and how long after
 * Redis accepted writes again the backlog was applied and stored on every node.
 */
import * as amqp from 'amqplib';
import { INGRESS_ROUTING_KEY } from '../../libs/common/src/contracts/topology';
import { AuditLine } from '../../libs/common/src/redis/entry.repository';
import { TestRedis } from '../../libs/common/src/testing/redis-server';
import { CpuMeter, CpuUsage, findProcess } from './cpu';
import { BenchFarm } from './farm';
import { PacedMessage, pacedPublish } from './publisher';
import { errorMessage, notificationBody, notifierOptions, now, round, sleep } from './util';

export interface OutageConfig {
  /** Notifications per second, for the whole stream. */
  rate: number;
  /** Stream before Redis refuses writes, in seconds. */
  beforeSeconds: number;
  /** How long Redis refuses writes, in seconds. */
  outageSeconds: number;
  /** Stream after Redis accepts writes again, in seconds. */
  afterSeconds: number;
  /** Outages in one run (each in its own stream); the figures are the worst round's. */
  rounds: number;
  /**
   * Stream at `rate` before the first round, not measured: freshly started repeaters drain a
   * backlog far slower until their code is warm, and a farm's repeaters have usually run for long.
   */
  warmupSeconds: number;
  /** Interval of the Redis samples that time the recovery, in ms. */
  sampleMs: number;
  /** Interval of the health polls, in ms. */
  healthMs: number;
}

/** One `GET /v1/health` answer as the bench tallies it: `503 degraded=redis`, `200 ok`. */
type HealthAnswer = string;

export interface OutageRound {
  round: number;
  published: number;
  confirmed: number;
  nacked: number;
  /** Sent while Redis refused writes. */
  published_during_outage: number;
  /** Confirmed notifications sent before Redis accepted writes again: what recovery waits for. */
  backlog: number;
  /** Confirmed notifications missing from a node's cache or its Redis hash at the end. */
  lost: number;
  missing_in_cache: Record<string, number>;
  missing_in_redis: Record<string, number>;
  /** From accepting writes until the backlog was stored in every node's Redis hash (the later of cache and Redis). */
  recover_ms: number | null;
  recover_by_node_ms: Record<string, number | null>;
  /** From accepting writes until the backlog was in every node's cache (audit `at`). */
  applied_ms: number | null;
  /** From accepting writes until each node's first successful write (its retry's wait). */
  first_write_ms: Record<string, number | null>;
  /** Entries each node stored per second from its first write after the outage until its backlog was stored. */
  drain_per_s: Record<string, number | null>;
  /** Health answers received while Redis refused writes, tallied. */
  health_during: Record<HealthAnswer, number>;
  /** From refusing writes until each node first answered 503. */
  first_503_ms: Record<string, number | null>;
  /** From accepting writes until each node answered 200 again. */
  back_to_200_ms: Record<string, number | null>;
  /** Failed writes and consumer retries counted by each node during the round (its metrics). */
  write_failures: Record<string, number>;
  consumer_retries: Record<string, number>;
  cpu: CpuUsage;
}

export interface OutageResult {
  config: OutageConfig;
  rounds: OutageRound[];
  lost: number;
  dead_lettered: number;
  /** Worst round. */
  recover_ms: number | null;
  applied_ms: number | null;
  published_during_outage: number;
  health_during: Record<HealthAnswer, number>;
}

interface Sample {
  t: number;
  audit: number[];
}

const NODES = ['o1', 'o2', 'o3'];

/** Sum of every series of a Prometheus metric in a text exposition. */
export function metricSum(text: string, name: string): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name) || (line[name.length] !== ' ' && line[name.length] !== '{')) continue;
    const v = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(v)) sum += v;
  }
  return sum;
}

/** Notification number `n` of the phase, published as the notifier does (one unique target each). */
function notification(farm: BenchFarm, n: number): PacedMessage {
  const id = `o${n}`;
  return { exchange: farm.t.ingressExchange, routingKey: INGRESS_ROUTING_KEY, content: notificationBody(`ob${n}`, id), options: notifierOptions(id) };
}

/** First sample at or after `from` whose count for node `ni` reached `atLeast`. */
function firstReaching(samples: Sample[], ni: number, atLeast: number, from = -Infinity): Sample | undefined {
  return samples.find((s) => s.t >= from && s.audit[ni] >= atLeast);
}

/**
 * The outage phase: owns its redis-server, its repeaters (namespace `<ns>-outage`) and its
 * AMQP connection; `close()` stops and deletes all of them (idempotent, also on failure).
 */
export class OutageBench {
  readonly redis = new TestRedis(false);
  private farm?: BenchFarm;
  private conn?: amqp.ChannelModel;
  private seq = 0;
  private closed?: Promise<string[]>;

  constructor(
    private readonly ns: string,
    private readonly rabbitmqUrl: string,
    private readonly cfg: OutageConfig,
    private readonly log: (m: string) => void,
  ) {}

  async run(): Promise<OutageResult> {
    await this.redis.start();
    const farm = (this.farm = new BenchFarm(this.ns, this.rabbitmqUrl, this.redis.url, this.redis.client()));
    this.log(`outage: redis-server of the bench on port ${this.redis.port}; repeaters ${NODES.join(', ')} in ${this.ns}`);
    await Promise.all(NODES.map((n) => farm.spawn(n)));
    await Promise.all(NODES.map((n) => farm.ready(n, 60_000)));
    this.conn = await amqp.connect(this.rabbitmqUrl, { noDelay: true });
    const ch = await this.conn.createConfirmChannel();
    await this.warmUp(farm, ch);
    const rounds: OutageRound[] = [];
    for (let r = 1; r <= this.cfg.rounds; r++) {
      const res = await this.round(farm, ch, r);
      rounds.push(res);
      this.log(
        `  round ${r}: ${res.published} published (${res.published_during_outage} while refused), backlog ${res.backlog}; recovered in ${res.recover_ms} ms (cache ${res.applied_ms} ms; first write after ${JSON.stringify(res.first_write_ms)} ms, then ${JSON.stringify(res.drain_per_s)} entries/s); lost ${res.lost}; health while refused ${JSON.stringify(res.health_during)}`,
      );
    }
    const dead = await this.deadLettered();
    const worst = (pick: (r: OutageRound) => number | null): number | null => {
      const vs = rounds.map(pick);
      return vs.some((v) => v === null) ? null : Math.max(...(vs as number[]));
    };
    const health: Record<HealthAnswer, number> = {};
    for (const r of rounds) for (const [k, v] of Object.entries(r.health_during)) health[k] = (health[k] ?? 0) + v;
    return {
      config: this.cfg,
      rounds,
      lost: rounds.reduce((a, r) => a + r.lost, 0),
      dead_lettered: dead,
      recover_ms: worst((r) => r.recover_ms),
      applied_ms: worst((r) => r.applied_ms),
      published_during_outage: rounds.reduce((a, r) => a + r.published_during_outage, 0),
      health_during: health,
    };
  }

  /** A stream without outage, waited for until stored on every node. */
  private async warmUp(farm: BenchFarm, ch: amqp.ConfirmChannel): Promise<void> {
    const count = Math.round(this.cfg.rate * this.cfg.warmupSeconds);
    if (count === 0) return;
    this.log(`outage: warm-up, ${this.cfg.warmupSeconds} s at ${this.cfg.rate}/s`);
    const first = this.seq;
    this.seq += count;
    await pacedPublish(ch, {
      rate: this.cfg.rate,
      count,
      window: 2000,
      make: (i) => notification(farm, first + i),
      onSend: () => undefined,
    });
    await this.waitStored(farm, this.seq);
  }

  /** One stream with one outage in it. */
  private async round(farm: BenchFarm, ch: amqp.ConfirmChannel, roundNo: number): Promise<OutageRound> {
    const { rate, beforeSeconds, outageSeconds, afterSeconds } = this.cfg;
    const count = Math.round(rate * (beforeSeconds + outageSeconds + afterSeconds));
    const first = this.seq;
    this.seq += count;
    const metrics0 = await this.metrics(farm);
    const pids: Record<string, number | undefined> = { broker: findProcess('beam.smp'), redis: this.redis.pid, bench: process.pid };
    for (const n of NODES) pids[n] = farm.node(n).pid;
    const meter = new CpuMeter(pids).start();

    const sendAt = new Float64Array(count).fill(NaN);
    const confirmed = new Uint8Array(count);
    let refuseAt = NaN;
    let acceptAt = NaN;
    const samples: Sample[] = [];
    const health: { t: number; node: number; answer: HealthAnswer }[] = [];
    let sampling = true;
    const sampler = this.sample(farm, samples, () => sampling);
    const healthPoll = this.pollHealth(farm, health, () => sampling);
    const fault = (async () => {
      await sleep(beforeSeconds * 1000);
      await this.redis.refuseWrites();
      refuseAt = now();
      await sleep(outageSeconds * 1000 - (now() - refuseAt));
      acceptAt = now();
      await this.redis.acceptWrites();
    })();
    let res;
    try {
      res = await pacedPublish(ch, {
        rate,
        count,
        window: 2000,
        make: (i) => notification(farm, first + i),
        onSend: (i, at) => (sendAt[i] = at),
        onSettle: (i, err) => (confirmed[i] = err ? 0 : 1),
      });
    } finally {
      // Whatever happened, Redis must accept writes again before anything else.
      await fault.catch(() => undefined);
      await this.redis.acceptWrites();
    }
    await fault;
    await this.waitStored(farm, first + count);
    sampling = false;
    await Promise.all([sampler, healthPoll]);
    const cpu = meter.stop();
    const metrics1 = await this.metrics(farm);

    const ids = (i: number): string => `o${first + i}`;
    const backlog = new Set<string>();
    const wanted = new Set<string>();
    for (let i = 0; i < count; i++) {
      if (!confirmed[i]) continue;
      wanted.add(ids(i));
      if (sendAt[i] < acceptAt) backlog.add(ids(i));
    }
    let during = 0;
    for (let i = 0; i < count; i++) if (sendAt[i] >= refuseAt && sendAt[i] < acceptAt) during++;

    // Every confirmed notification of the round, in every node's cache and Redis hash.
    const missing = new Set<string>();
    const missingInCache: Record<string, number> = {};
    const missingInRedis: Record<string, number> = {};
    for (const n of NODES) {
      const snap = await farm.node(n).snapshot();
      const inCache = new Set(snap.entries.map((e) => e.id));
      const stored = new Set((await farm.redis.hvals(farm.entriesKey(n))).map((j) => (JSON.parse(j) as { id: string }).id));
      missingInCache[n] = 0;
      missingInRedis[n] = 0;
      for (const id of wanted) {
        if (!inCache.has(id)) {
          missingInCache[n]++;
          missing.add(id);
        }
        if (!stored.has(id)) {
          missingInRedis[n]++;
          missing.add(id);
        }
      }
    }

    // Recovery, per node: the audit list is in the order of the writes (the same script call
    // stores the entry and pushes its line), so the backlog is stored once the list is as long as
    // the position of its last backlog line; the samples of the list's length time that.
    const recoverBy: Record<string, number | null> = {};
    const firstWrite: Record<string, number | null> = {};
    const drain: Record<string, number | null> = {};
    let appliedLast = -Infinity;
    for (let ni = 0; ni < NODES.length; ni++) {
      const lines = (await farm.redis.lrange(farm.auditKey(NODES[ni]), 0, -1)).reverse();
      let lastPos = 0;
      let seen = 0;
      for (let p = 0; p < lines.length; p++) {
        const l = JSON.parse(lines[p]) as AuditLine;
        if (!backlog.has(l.id)) continue;
        seen++;
        lastPos = p + 1;
        if (l.at > appliedLast) appliedLast = l.at;
      }
      const stored = seen === backlog.size ? firstReaching(samples, ni, lastPos) : undefined;
      recoverBy[NODES[ni]] = stored ? round(stored.t - acceptAt, 0) : null;
      const atAccept = [...samples].reverse().find((s) => s.t < acceptAt)?.audit[ni] ?? 0;
      const grew = firstReaching(samples, ni, atAccept + 1, acceptAt);
      firstWrite[NODES[ni]] = grew ? round(grew.t - acceptAt, 0) : null;
      drain[NODES[ni]] = grew && stored && stored.t > grew.t ? Math.round((lastPos - grew.audit[ni]) / ((stored.t - grew.t) / 1000)) : null;
    }
    const perNode = Object.values(recoverBy);
    const recover = perNode.some((v) => v === null) ? null : Math.max(...(perNode as number[]));

    const during503: Record<HealthAnswer, number> = {};
    const first503: Record<string, number | null> = {};
    const back200: Record<string, number | null> = {};
    for (let ni = 0; ni < NODES.length; ni++) {
      const mine = health.filter((h) => h.node === ni);
      const f = mine.find((h) => h.t >= refuseAt && h.answer.startsWith('503'));
      first503[NODES[ni]] = f ? round(f.t - refuseAt, 0) : null;
      const b = mine.find((h) => h.t >= acceptAt && h.answer.startsWith('200'));
      back200[NODES[ni]] = b ? round(b.t - acceptAt, 0) : null;
    }
    for (const h of health) if (h.t >= refuseAt && h.t < acceptAt) during503[h.answer] = (during503[h.answer] ?? 0) + 1;

    const delta = (name: string): Record<string, number> => Object.fromEntries(NODES.map((n) => [n, metricSum(metrics1[n], name) - metricSum(metrics0[n], name)]));
    return {
      round: roundNo,
      published: res.sent,
      confirmed: res.confirmed,
      nacked: res.nacked,
      published_during_outage: during,
      backlog: backlog.size,
      lost: missing.size,
      missing_in_cache: missingInCache,
      missing_in_redis: missingInRedis,
      recover_ms: recover,
      recover_by_node_ms: recoverBy,
      applied_ms: Number.isFinite(appliedLast) ? round(Math.max(0, appliedLast - acceptAt), 0) : null,
      first_write_ms: firstWrite,
      drain_per_s: drain,
      health_during: during503,
      first_503_ms: first503,
      back_to_200_ms: back200,
      write_failures: delta('farm_redis_write_failures_total'),
      consumer_retries: delta('farm_consumer_retries_total'),
      cpu,
    };
  }

  /** Every `sampleMs`, the length of every node's audit list (reads work while writes are refused). */
  private async sample(farm: BenchFarm, out: Sample[], going: () => boolean): Promise<void> {
    const c = farm.redis;
    while (going()) {
      try {
        const audit = await Promise.all(NODES.map((n) => c.llen(farm.auditKey(n))));
        out.push({ t: now(), audit });
      } catch {
        /* a missed sample only makes the timing coarser */
      }
      await sleep(this.cfg.sampleMs);
    }
  }

  /** Every `healthMs`, `GET /v1/health` of every node, tallied as `<status> <degraded or status>`. */
  private async pollHealth(farm: BenchFarm, out: { t: number; node: number; answer: HealthAnswer }[], going: () => boolean): Promise<void> {
    while (going()) {
      await Promise.all(
        NODES.map(async (n, node) => {
          let answer: HealthAnswer;
          try {
            const r = await fetch(`${farm.node(n).url}/v1/health`);
            const body = (await r.json()) as { status?: string; degraded?: string };
            answer = `${r.status} ${body.degraded ? `degraded=${body.degraded}` : (body.status ?? '')}`;
          } catch (err) {
            answer = `error ${errorMessage(err)}`;
          }
          out.push({ t: now(), node, answer });
        }),
      );
      await sleep(this.cfg.healthMs);
    }
  }

  /** Waits until every node's Redis hash holds `total` entries, or nothing moved for 10 s. */
  private async waitStored(farm: BenchFarm, total: number): Promise<void> {
    let last = -1;
    let since = now();
    for (;;) {
      const lens = await Promise.all(NODES.map((n) => farm.redis.hlen(farm.entriesKey(n))));
      if (lens.every((l) => l >= total)) return;
      const sum = lens.reduce((a, b) => a + b, 0);
      if (sum !== last) {
        last = sum;
        since = now();
      } else if (now() - since > 10_000) return;
      await sleep(20);
    }
  }

  private async metrics(farm: BenchFarm): Promise<Record<string, string>> {
    const out: Record<string, string> = {};
    for (const n of NODES) out[n] = await (await fetch(`${farm.node(n).url}/metrics`, { headers: farm.node(n).auth() })).text();
    return out;
  }

  /** Messages waiting in `<ns>.dead`. */
  private async deadLettered(): Promise<number> {
    if (!this.conn || !this.farm) throw new Error('outage bench not started');
    const ch = await this.conn.createChannel();
    try {
      return (await ch.checkQueue(this.farm.t.deadQueue)).messageCount;
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  /** Stops the repeaters and the redis-server, deletes the namespace's queues and exchanges. */
  close(): Promise<string[]> {
    this.closed ??= (async () => {
      const problems: string[] = [];
      await this.conn?.close().catch(() => undefined);
      if (this.farm) {
        await this.farm.stopAll();
        problems.push(...(await this.farm.cleanup()));
      }
      await this.redis.destroy().catch((err: unknown) => problems.push(`redis-server: ${errorMessage(err)}`));
      return problems;
    })();
    return this.closed;
  }
}
