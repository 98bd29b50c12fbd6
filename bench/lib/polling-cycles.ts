/**
 * The polling side of `bench:polling`: (a) one query per service, the usual way, and (b) one
 * compilation per server through the poller's own engine (`Poller`), both through the same
 * `RpcClient`, the same `Limiter` bound and the same timeout, every message and byte counted.
 */
import Redis from 'ioredis';
import { topology } from '../../libs/common/src/contracts/topology';
import { parseJson } from '../../libs/common/src/contracts/validation';
import { RpcClient } from '../../libs/common/src/messaging/rpc';
import { Limiter, Poller, PollerOptions, pollerOptions } from '../../libs/common/src/monitoring/poller';
import { PollerEnv } from '../../libs/common/src/config/monitoring.env';
import { PollerStore } from '../../libs/common/src/redis/poller.repository';
import { SERVICES_PER_SERVER, serviceName } from './polling-protocol';

export type Mode = 'per-service' | 'compilation';

export interface CycleRun {
  mode: Mode;
  servers: number;
  ms: number;
  /** Requests sent and replies received: the messages of the cycle. */
  requests: number;
  replies: number;
  messages: number;
  bytes_out: number;
  bytes_in: number;
  /** Requests without a valid reply of all services `ok` (must be 0). */
  failures: number;
  /** Notifications the poller tried to publish (must be 0: every service is up). */
  published: number;
}

/** The poller's settings from its own environment class's defaults, as the app builds them, at the bench's concurrency. */
function benchPollerOptions(concurrency: number): PollerOptions {
  return { ...pollerOptions(new PollerEnv(), 'bench-poller'), concurrency };
}

const CHECK_BODIES = Array.from({ length: SERVICES_PER_SERVER }, (_, i) => Buffer.from(JSON.stringify({ op: 'check', service: serviceName(i) })));

/** The bench's poller process: one RPC client, Redis as the poller app's store uses it. */
export class PollingSide {
  private requests = 0;
  private replies = 0;
  private published = 0;
  /** Problems of the last cycle, the first few of them. */
  problems: string[] = [];
  private failures = 0;

  constructor(
    private readonly ns: string,
    private readonly rpc: RpcClient,
    private readonly redis: Redis,
    readonly concurrency: number,
  ) {}

  get timeoutMs(): number {
    return new PollerEnv().POLL_TIMEOUT_MS;
  }

  /** The request port of both modes: counts requests and replies. */
  private async request(serverId: string, body: Buffer, timeoutMs: number): Promise<Buffer> {
    this.requests++;
    const raw = await this.rpc.call(topology(this.ns).attendantQueue(serverId), body, timeoutMs);
    this.replies++;
    return raw;
  }

  private problem(p: string): void {
    this.failures++;
    if (this.problems.length < 10) this.problems.push(p);
  }

  /** A `Poller` wired as apps/poller wires it (its Redis store too), except that nothing is published (only counted). */
  poller(): Poller {
    const store = new PollerStore(this.redis, this.ns);
    return new Poller(
      {
        request: (id, body, timeoutMs) => this.request(id, body, timeoutMs),
        canRequest: () => true,
        saveRecord: (r) => store.saveRecord(r),
        deleteRecord: (id) => store.deleteRecord(id),
        saveHealth: (h) => store.saveHealth(h),
        publish: async () => void this.published++,
        now: Date.now,
      },
      benchPollerOptions(this.concurrency),
    );
  }

  private async measure(mode: Mode, servers: number, fn: () => Promise<void>): Promise<CycleRun> {
    this.requests = this.replies = this.published = this.failures = 0;
    this.problems = [];
    const out0 = this.rpc.bytesOut;
    const in0 = this.rpc.bytesIn;
    const t0 = performance.now();
    await fn();
    const ms = performance.now() - t0;
    return {
      mode, servers, ms: Math.round(ms * 10) / 10, requests: this.requests, replies: this.replies, messages: this.requests + this.replies,
      bytes_out: this.rpc.bytesOut - out0, bytes_in: this.rpc.bytesIn - in0, failures: this.failures, published: this.published,
    };
  }

  /** (a) One `{op:'check'}` per service, at most `concurrency` in flight, each reply checked. */
  perServiceCycle(ids: string[]): Promise<CycleRun> {
    const limiter = new Limiter(this.concurrency);
    const timeoutMs = this.timeoutMs;
    return this.measure('per-service', ids.length, async () => {
      await Promise.all(ids.flatMap((id) => CHECK_BODIES.map((body, i) => limiter.run(async () => {
        const name = serviceName(i);
        let raw: Buffer;
        try {
          raw = await this.request(id, body, timeoutMs);
        } catch (err) {
          return this.problem(`${id}/${name}: unresponsive: ${(err as Error).message}`);
        }
        try {
          const v = parseJson(raw, 64 * 1024) as { serverId?: unknown; service?: { name?: unknown; status?: unknown } };
          if (v?.serverId !== id || v.service?.name !== name) return this.problem(`${id}/${name}: bad reply ${raw.toString('utf8').slice(0, 200)}`);
          if (v.service.status !== 'ok') return this.problem(`${id}/${name}: status ${String(v.service.status)}`);
        } catch (err) {
          this.problem(`${id}/${name}: bad reply: ${(err as Error).message}`);
        }
      }))));
    });
  }

  /** (b) One `Poller.cycle()`: one query per server; then every record must show a fresh, valid, all-ok answer. */
  async compilationCycle(poller: Poller, ids: string[]): Promise<CycleRun> {
    const started = Date.now();
    const run = await this.measure('compilation', ids.length, async () => {
      await poller.cycle(ids);
    });
    for (const id of ids) {
      const r = poller.records.get(id);
      if (!r) this.problem(`${id}: no record`);
      else if (r.lastPolledAt === undefined || r.lastPolledAt < started) this.problem(`${id}: not polled in this cycle (skipped)`);
      else if (r.failures > 0 || r.lastAnswerAt !== r.lastPolledAt) this.problem(`${id}: ${r.deficiencies.map((d) => `${d.kind}: ${d.detail}`).join('; ')}`);
      else if (r.deficiencies.length > 0) this.problem(`${id}: deficiencies ${r.deficiencies.map((d) => `${d.kind} ${d.service ?? ''} ${d.detail}`).join('; ')}`);
      else if (r.lastCompilation?.services.length !== SERVICES_PER_SERVER || r.lastCompilation.services.some((s) => s.status !== 'ok')) this.problem(`${id}: compilation without ${SERVICES_PER_SERVER} ok services`);
    }
    return { ...run, failures: this.failures };
  }
}
