import { ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import * as amqp from 'amqplib';
import { CpuMeter, CpuUsage, findProcess } from './cpu';
import { pacedPublish } from './publisher';
import { LatencySummary, notificationBody, notifierOptions, now, sleep, summarize } from './util';

export interface RelayPhase extends LatencySummary {
  rate: number;
  seconds: number;
  sent: number;
  /** Messages not taken by all three nodes within the deadline. */
  missing: number;
  /** The first hop alone: from sending to the first node taking it from ingress. */
  taker: LatencySummary;
  cpu: CpuUsage;
}

export interface RelayFloorResult {
  nodes: number;
  warmup: RelayPhase;
  low_rate: RelayPhase;
  latency: RelayPhase;
}

const NODES = ['1', '2', '3'];

/** A relay node process (bench/lib/relay-node.ts) as the bench drives it. */
class RelayNode {
  private readonly waiting: { resolve: (m: Record<string, unknown>) => void; reject: (e: Error) => void }[] = [];
  private exited?: Error;

  constructor(readonly proc: ChildProcess) {
    proc.on('message', (m: Record<string, unknown>) => this.waiting.shift()?.resolve(m));
    proc.once('exit', (code, signal) => {
      this.exited = new Error(`relay node exited (${code ?? signal})`);
      for (const w of this.waiting.splice(0)) w.reject(this.exited);
    });
  }

  /** Its next message; rejects once it has exited (at once if it already has). */
  next(): Promise<Record<string, unknown>> {
    if (this.exited) return Promise.reject(this.exited);
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  async times(): Promise<[number, number][]> {
    const reply = this.next();
    this.proc.send({ cmd: 'times' });
    return (await reply).times as [number, number][];
  }
}

/**
 * The two-hop floor: our design's shape with the broker alone. Three node processes (raw
 * amqplib, no NestJS, no Redis) compete for one durable ingress queue; the first to take a
 * message re-publishes it to a durable fanout exchange bound to each node's durable queue
 * (persistent, confirm channel) and acks the ingress on the confirm; the others take it from
 * their queues. Latency of a message = max over the nodes of (taken - sent): what the system's
 * `p99_ms` measures, without any of the system's own work. Paced as the system phase is: a
 * warm-up at `highRate`, then `lowRate`, then `highRate`.
 */
export async function runRelayFloor(
  url: string,
  ns: string,
  o: { highRate: number; lowRate: number; warmupSeconds: number; lowSeconds: number; highSeconds: number },
): Promise<RelayFloorResult> {
  const ingress = `${ns}.relay.in`;
  const exchange = `${ns}.relay.fanout`;
  const queues = NODES.map((n) => `${ns}.relay.${n}`);
  const admin = await amqp.connect(url, { noDelay: true });
  const nodes: RelayNode[] = [];
  try {
    const ach = await admin.createChannel();
    await ach.assertQueue(ingress, { durable: true });
    await ach.assertExchange(exchange, 'fanout', { durable: true });
    for (const q of queues) {
      await ach.assertQueue(q, { durable: true });
      await ach.bindQueue(q, exchange, '');
    }
    for (let k = 0; k < NODES.length; k++) {
      const env = { ...process.env, RELAY_ID: NODES[k], RABBITMQ_URL: url, RELAY_INGRESS: ingress, RELAY_EXCHANGE: exchange, RELAY_QUEUE: queues[k] };
      const node = new RelayNode(fork(join(__dirname, 'relay-node.js'), [], { env, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }));
      nodes.push(node);
      const first = await node.next();
      if (!first.ready) throw new Error(`relay node ${NODES[k]}: ${String(first.error)}`);
    }
    const pids: Record<string, number | undefined> = { broker: findProcess('beam.smp'), bench: process.pid };
    nodes.forEach((n, k) => (pids[`relay${NODES[k]}`] = n.proc.pid));
    const pub = await admin.createConfirmChannel();
    let seq = 0;
    const phase = async (rate: number, seconds: number): Promise<RelayPhase> => {
      const count = Math.round(rate * seconds);
      const first = seq;
      seq += count;
      const sendAt = new Float64Array(count).fill(NaN);
      const worst = new Float64Array(count).fill(-Infinity);
      const earliest = new Float64Array(count).fill(Infinity);
      const seen = new Uint8Array(count);
      let complete = 0;
      const collect = async (): Promise<void> => {
        const all = await Promise.all(nodes.map((n) => n.times()));
        for (const times of all) {
          for (const [idx, t] of times) {
            const i = idx - first;
            if (i < 0 || i >= count) continue;
            worst[i] = Math.max(worst[i], t);
            earliest[i] = Math.min(earliest[i], t);
            if (++seen[i] === NODES.length) complete++;
          }
        }
      };
      const meter = new CpuMeter(pids).start();
      const res = await pacedPublish(pub, {
        rate,
        count,
        window: 1000,
        make: (i) => ({ exchange: '', routingKey: ingress, content: notificationBody(`r${first + i}`, String(first + i)), options: notifierOptions(String(first + i)) }),
        onSend: (i, at) => (sendAt[i] = at),
      });
      const deadline = res.lastSend + 3000;
      do {
        await sleep(100);
        await collect();
      } while (complete < count && now() < deadline);
      const cpu = meter.stop();
      const lat: number[] = [];
      const taker: number[] = [];
      for (let i = 0; i < count; i++) {
        if (seen[i] < NODES.length) continue;
        lat.push(worst[i] - sendAt[i]);
        taker.push(earliest[i] - sendAt[i]);
      }
      return { rate, seconds, sent: count, missing: count - lat.length, taker: summarize(taker), cpu, ...summarize(lat) };
    };
    const warmup = await phase(o.highRate, o.warmupSeconds);
    const lowRate = await phase(o.lowRate, o.lowSeconds);
    const latency = await phase(o.highRate, o.highSeconds);
    return { nodes: NODES.length, warmup, low_rate: lowRate, latency };
  } finally {
    for (const n of nodes) {
      if (n.proc.exitCode !== null || n.proc.signalCode !== null) continue;
      if (n.proc.connected) n.proc.send({ cmd: 'stop' });
      await Promise.race([new Promise((r) => n.proc.once('exit', r)), sleep(3000)]);
      n.proc.kill();
    }
    const ch = await admin.createChannel().catch(() => undefined);
    if (ch) {
      for (const q of [ingress, ...queues]) await ch.deleteQueue(q).catch(() => undefined);
      await ch.deleteExchange(exchange).catch(() => undefined);
    }
    await admin.close().catch(() => undefined);
  }
}
