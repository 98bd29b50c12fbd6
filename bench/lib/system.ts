import type * as amqp from 'amqplib';
import { INGRESS_ROUTING_KEY } from '../../libs/common/src/contracts/topology';
import { CpuMeter, CpuUsage } from './cpu';
import { BenchFarm } from './farm';
import { pacedPublish } from './publisher';
import { LatencySummary, notificationBody, notifierOptions, now, round, sleep, summarize } from './util';

export interface PhaseResult extends LatencySummary {
  rate: number;
  seconds: number;
  sent: number;
  achieved_rate: number;
  nacked: number;
  window_waits: number;
  /** Notifications missing from at least one node once the queues stopped moving. */
  lost: number;
  /** Notifications applied on all three nodes, but more than `deadlineMs` after sending stopped. */
  late: number;
  /** From the last send until the last node applied the last notification. */
  drain_ms: number;
  /** Notifications applied on all nodes per second, from the first send to the last apply. */
  applied_rate: number;
  /** Lines per node that did not belong to this phase (should be 0). */
  foreign_lines: number;
  /** CPU of the repeaters, the broker, Redis and this process from the first send to the drain. */
  cpu: CpuUsage;
  /** From sending to the first node applying it (the node that took it from the ingress). */
  taker: LatencySummary;
  /**
   * Re-broadcast messages the nodes sent during the phase, and notifications per message. A node
   * counts a message once it is confirmed, so one confirmed after the phase's last apply is
   * counted in the next phase (a few at most: the phase waits for every node's applies).
   */
  rebroadcasts: number;
  notifications_per_rebroadcast: number;
  /** From sending to an idle witness receiving its re-broadcast (when watched). */
  rebroadcast_seen?: LatencySummary & { messages: number };
}

/**
 * Publishes notifications straight to `<ns>.ingress` as the notifier does (persistent, confirm
 * channel, explicit id and timestamp, one unique target each), then reads every node's audit
 * list and computes per notification the max over the nodes of (applied at - sent at).
 */
export class SystemBench {
  private seq = 0;
  /** When a witness consumer (idle, not durable, no acks) first saw each re-broadcast id. */
  private readonly seen = new Map<string, number>();
  /** Re-broadcast messages the witness received (each carries one notification or a batch). */
  private seenMessages = 0;

  constructor(
    private readonly farm: BenchFarm,
    private readonly nodes: string[],
    private readonly ch: amqp.ConfirmChannel,
    private readonly pids: Record<string, number | undefined>,
  ) {}

  /**
   * Binds an idle witness queue to the ordinary fanout exchange, so each phase can tell the
   * broker's part of the second hop (re-broadcast seen) from the nodes' part (applied).
   */
  async watchRebroadcasts(conn: amqp.ChannelModel): Promise<void> {
    const wch = await conn.createChannel();
    const q = await wch.assertQueue('', { exclusive: true, autoDelete: true, durable: false });
    await wch.bindQueue(q.queue, this.farm.t.fanoutExchange, '');
    await wch.consume(
      q.queue,
      (msg) => {
        if (!msg) return;
        const at = now();
        this.seenMessages++;
        const body = JSON.parse(msg.content.toString()) as { id?: string; notifications?: { id: string }[] };
        for (const n of body.notifications ?? [body]) if (n.id && !this.seen.has(n.id)) this.seen.set(n.id, at);
      },
      { noAck: true },
    );
  }

  /** Notifications published so far (each one a distinct entry on every node). */
  get total(): number {
    return this.seq;
  }

  async phase(rate: number, seconds: number, window: number, deadlineMs = 3000): Promise<PhaseResult> {
    const count = Math.round(rate * seconds);
    const first = this.seq;
    this.seq += count;
    const messages0 = this.seenMessages;
    const base = await Promise.all(this.nodes.map((n) => this.farm.auditLength(n)));
    const sendAt = new Float64Array(count).fill(NaN);
    const exchange = this.farm.t.ingressExchange;
    const rebroadcasts0 = await this.farm.rebroadcasts(this.nodes);
    const meter = new CpuMeter(this.pids).start();
    const res = await pacedPublish(this.ch, {
      rate,
      count,
      window,
      make: (i) => {
        const id = `n${first + i}`;
        return { exchange, routingKey: INGRESS_ROUTING_KEY, content: notificationBody(`b${first + i}`, id), options: notifierOptions(id) };
      },
      onSend: (i, at) => (sendAt[i] = at),
    });
    await this.waitApplied(base, count, res.lastSend + deadlineMs);
    const cpu = meter.stop();
    const rebroadcasts = (await this.farm.rebroadcasts(this.nodes)) - rebroadcasts0;

    const worst = new Float64Array(count).fill(-Infinity);
    const firstAt = new Float64Array(count).fill(Infinity);
    const seen = new Uint8Array(count);
    let foreign = 0;
    for (let ni = 0; ni < this.nodes.length; ni++) {
      const len = await this.farm.auditLength(this.nodes[ni]);
      const lines = await this.farm.newestAudit(this.nodes[ni], len - base[ni]);
      const mine = new Uint8Array(count);
      for (const l of lines) {
        const i = Number(l.id.slice(1)) - first;
        if (!l.id.startsWith('n') || !Number.isInteger(i) || i < 0 || i >= count || mine[i]) {
          foreign++;
          continue;
        }
        mine[i] = 1;
        seen[i]++;
        if (l.at > worst[i]) worst[i] = l.at;
        if (l.at < firstAt[i]) firstAt[i] = l.at;
      }
    }
    const lat: number[] = [];
    const takerLat: number[] = [];
    const seenLat: number[] = [];
    let lost = 0;
    let late = 0;
    let lastApplied = -Infinity;
    for (let i = 0; i < count; i++) {
      if (seen[i] < this.nodes.length) {
        lost++;
        continue;
      }
      lat.push(worst[i] - sendAt[i]);
      takerLat.push(firstAt[i] - sendAt[i]);
      const seenAt = this.seen.get(`n${first + i}`);
      if (seenAt !== undefined) seenLat.push(seenAt - sendAt[i]);
      if (worst[i] > res.lastSend + deadlineMs) late++;
      if (worst[i] > lastApplied) lastApplied = worst[i];
    }
    return {
      rate,
      seconds,
      sent: res.sent,
      achieved_rate: Math.round(res.achievedRate),
      nacked: res.nacked,
      window_waits: res.windowWaits,
      lost,
      late,
      drain_ms: round(lastApplied - res.lastSend, 1),
      applied_rate: Math.round((count - lost) / ((lastApplied - res.firstSend) / 1000)),
      foreign_lines: foreign,
      rebroadcasts,
      notifications_per_rebroadcast: round(count / rebroadcasts, 2),
      ...summarize(lat),
      taker: summarize(takerLat),
      rebroadcast_seen: seenLat.length > 0 ? { ...summarize(seenLat), messages: this.seenMessages - messages0 } : undefined,
      cpu,
    };
  }

  /**
   * Waits until every node's audit list grew by `count`, polling; past the deadline, goes on
   * waiting only while the lists still grow (so a backlog is drained before counting losses).
   */
  private async waitApplied(base: number[], count: number, deadline: number): Promise<void> {
    let lastProgress = now();
    let last = -1;
    for (;;) {
      const lens = await Promise.all(this.nodes.map((n) => this.farm.auditLength(n)));
      const done = lens.reduce((a, l, i) => a + Math.min(count, l - base[i]), 0);
      if (done >= count * this.nodes.length) return;
      const t = now();
      if (done !== last) {
        last = done;
        lastProgress = t;
      }
      if (t > deadline && t - lastProgress > 5000) return;
      if (t > deadline + 120_000) return;
      await sleep(25);
    }
  }

  /** Each node's entry count, from GET /v1/availability (the full snapshot). */
  async counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const n of this.nodes) out[n] = (await this.farm.node(n).get<{ count: number }>('/v1/availability')).count;
    return out;
  }
}
