import * as amqp from 'amqplib';
import { CpuMeter, CpuUsage, findProcess } from './cpu';
import { pacedPublish, PaceResult } from './publisher';
import { LatencySummary, notificationBody, notifierOptions, now, round, sleep, summarize } from './util';

export interface FloorResult extends LatencySummary {
  rate: number;
  seconds: number;
  sent: number;
  /** Messages that did not reach every queue within the drain time. */
  missing: number;
  achieved_rate: number;
  /** From the last send until the last arrival on any queue. */
  drain_ms: number;
  queue_arguments: Record<string, unknown>;
  /** CPU from the first warm-up send to the drain, so it covers `cpu_messages` messages (warm-up included). */
  cpu: CpuUsage;
  cpu_messages: number;
}

/** Names of a floor variant's exchange and queues. */
export function floorNames(ns: string, name: string): { exchange: string; queues: string[] } {
  return { exchange: `${ns}.${name}`, queues: [1, 2, 3].map((i) => `${ns}.${name}.${i}`) };
}

/**
 * The floor: what the broker alone costs. A durable fanout exchange bound to three durable
 * queues, persistent messages on a confirm channel with a notification's payload; three
 * consumers (own connection each, manual ack, prefetch 200) record arrival times. Latency of a
 * message = max over the three queues of (arrival - send).
 */
export async function runFloor(url: string, ns: string, rate: number, seconds: number, warmupSeconds: number, name = 'floor', queueArgs: Record<string, unknown> = {}): Promise<FloorResult> {
  const { exchange, queues } = floorNames(ns, name);
  const admin = await amqp.connect(url, { noDelay: true });
  const consumers: amqp.ChannelModel[] = [];
  try {
    const ach = await admin.createChannel();
    await ach.assertExchange(exchange, 'fanout', { durable: true });
    for (const q of queues) {
      await ach.assertQueue(q, { durable: true, arguments: queueArgs });
      await ach.bindQueue(q, exchange, '');
    }
    const warm = Math.round(rate * warmupSeconds);
    const count = warm + Math.round(rate * seconds);
    const sendAt = new Float64Array(count).fill(NaN);
    const arrivals = queues.map(() => new Float64Array(count).fill(NaN));
    let arrived = 0;
    for (let qi = 0; qi < queues.length; qi++) {
      const conn = await amqp.connect(url, { noDelay: true });
      consumers.push(conn);
      const ch = await conn.createChannel();
      await ch.prefetch(200);
      const arr = arrivals[qi];
      await ch.consume(
        queues[qi],
        (msg) => {
          if (!msg) return;
          const t = now();
          const i = Number(msg.properties.messageId);
          if (Number.isInteger(i) && i >= 0 && i < count && Number.isNaN(arr[i])) {
            arr[i] = t;
            arrived++;
          }
          ch.ack(msg);
        },
        { noAck: false },
      );
    }
    const pub = await admin.createConfirmChannel();
    const meter = new CpuMeter({ broker: findProcess('beam.smp'), bench: process.pid }).start();
    const res: PaceResult = await pacedPublish(pub, {
      rate,
      count,
      window: 1000,
      make: (i) => ({ exchange, routingKey: '', content: notificationBody(`b${i}`, String(i)), options: notifierOptions(String(i)) }),
      onSend: (i, at) => (sendAt[i] = at),
    });
    const deadline = now() + 10_000;
    while (arrived < count * queues.length && now() < deadline) await sleep(20);
    const cpu = meter.stop();
    let lastArrival = -Infinity;
    for (const arr of arrivals) for (const t of arr) if (t > lastArrival) lastArrival = t;
    const lat: number[] = [];
    let missing = 0;
    for (let i = warm; i < count; i++) {
      let worst = -Infinity;
      for (const arr of arrivals) worst = Math.max(worst, arr[i] - sendAt[i]);
      if (Number.isNaN(worst)) missing++;
      else lat.push(worst);
    }
    return { rate, seconds, sent: count - warm, missing, achieved_rate: Math.round(res.achievedRate), drain_ms: Math.round(lastArrival - res.lastSend), queue_arguments: queueArgs, cpu, cpu_messages: count, ...summarize(lat) };
  } finally {
    for (const c of consumers) await c.close().catch(() => undefined);
    const ch = await admin.createChannel().catch(() => undefined);
    if (ch) {
      for (const q of queues) await ch.deleteQueue(q).catch(() => undefined);
      await ch.deleteExchange(exchange).catch(() => undefined);
    }
    await admin.close().catch(() => undefined);
  }
}

/** CPU milliseconds of the measured processes per 1,000 messages (or notifications). */
export function cpuMsPer1000(cpu: CpuUsage, count: number): number {
  const pct = Object.values(cpu.by_process).reduce((a, b) => a + b, 0);
  return count > 0 ? Math.round((pct / 100) * cpu.seconds * 1000 * (1000 / count)) : NaN;
}

export interface LaneFloorResult {
  queue_type: 'classic' | 'quorum';
  backlog: number;
  prefetch: number;
  /** From the consumers' start until the urgent message, published after the backlog, arrived. */
  urgent_ms: number;
  /** How many backlog messages arrived before it. */
  urgent_after: number;
  /** From the consumers' start until the backlog was drained. */
  drain_ms: number;
}

/**
 * The lanes on the broker alone: an ordinary and an urgent durable queue of `queueType`, a
 * backlog of ordinary messages, then one urgent message behind it; then one consumer on each
 * queue (one channel each, prefetch 200, manual acks, as a node consumes them). How soon the
 * urgent one arrives against how long the backlog takes: the overtaking the lanes give, without
 * the priority queues' cost, on classic and on quorum queues alike.
 */
export async function runLaneFloor(url: string, ns: string, queueType: 'classic' | 'quorum', backlog: number): Promise<LaneFloorResult> {
  const ordinary = `${ns}.lanes-${queueType}`;
  const urgent = `${ordinary}.urgent`;
  const args = queueType === 'quorum' ? { 'x-queue-type': 'quorum' } : {};
  const prefetch = 200;
  const conn = await amqp.connect(url, { noDelay: true });
  try {
    const ch = await conn.createConfirmChannel();
    for (const q of [ordinary, urgent]) await ch.assertQueue(q, { durable: true, arguments: args });
    for (let i = 0; i < backlog; i++) {
      if (!ch.sendToQueue(ordinary, notificationBody(`l${i}`, String(i)), notifierOptions(String(i)))) await new Promise((r) => ch.once('drain', r));
      if (i % 1000 === 999) await ch.waitForConfirms();
    }
    ch.sendToQueue(urgent, notificationBody('urgent', 'urgent'), notifierOptions('urgent'));
    await ch.waitForConfirms();
    let got = 0;
    let urgentAt = NaN;
    let urgentAfter = -1;
    let drainedAt = NaN;
    const t0 = now();
    const done = new Promise<void>((resolve) => {
      const consume = async (queue: string, isUrgent: boolean): Promise<void> => {
        const c = await conn.createChannel();
        await c.prefetch(prefetch);
        await c.consume(queue, (msg) => {
          if (!msg) return;
          if (isUrgent) {
            urgentAt = now();
            urgentAfter = got;
          } else if (++got === backlog) drainedAt = now();
          c.ack(msg);
          if (!Number.isNaN(urgentAt) && !Number.isNaN(drainedAt)) resolve();
        }, { noAck: false });
      };
      void consume(urgent, true);
      void consume(ordinary, false);
    });
    await Promise.race([done, sleep(120_000)]);
    return { queue_type: queueType, backlog, prefetch, urgent_ms: round(urgentAt - t0, 1), urgent_after: urgentAfter, drain_ms: round(drainedAt - t0, 1) };
  } finally {
    const ch = await conn.createChannel().catch(() => undefined);
    if (ch) for (const q of [ordinary, urgent]) await ch.deleteQueue(q).catch(() => undefined);
    await conn.close().catch(() => undefined);
  }
}
