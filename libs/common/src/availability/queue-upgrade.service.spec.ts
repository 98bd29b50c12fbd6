import { Logger } from '@nestjs/common';
import type Redis from 'ioredis';
import { topology } from '../contracts/topology';
import type { NodeEnv } from '../config/repeater.env';
import type { AmqpClient } from '../messaging/amqp-client';
import type { NodeConsumers } from './consumers';
import { QueueForms } from './queue-forms';
import { QueueUpgradeService, UPGRADE_STEP_MS, ingressUpgradeKey } from './queue-upgrade.service';

const NS = 'farm';
const t = topology(NS);

interface FakeQueue {
  legacy: boolean;
  messages: number;
  /** Consumers other than this node's (a node of the earlier version). */
  others: number;
}

/** A consumer as the service sees it: paused or consuming, with deliveries in hand. */
class FakeSub {
  paused = true;
  inFlight = 0;
  constructor(readonly queue: string) {}
  async pause(): Promise<void> {
    this.paused = true;
  }
  async resume(): Promise<void> {
    this.paused = false;
  }
}

/** The broker, as far as the upgrade talks to it: queues, bindings, and its refusals. */
function broker() {
  const queues = new Map<string, FakeQueue>();
  const bindings = new Set<string>();
  const subs: FakeSub[] = [];
  const consumers = (q: string): number => (queues.get(q)?.others ?? 0) + subs.filter((s) => s.queue === q && !s.paused).length;
  const ch = {
    checkQueue: async (q: string) => {
      const x = queues.get(q);
      if (!x) throw new Error(`Operation failed: QueueDeclare; 404 (NOT-FOUND) with message "NOT_FOUND - no queue '${q}'"`);
      return { queue: q, messageCount: x.messages, consumerCount: consumers(q) };
    },
    deleteQueue: async (q: string, opts: { ifEmpty?: boolean; ifUnused?: boolean }) => {
      const x = queues.get(q);
      if (x && ((opts.ifEmpty && x.messages > 0) || (opts.ifUnused && consumers(q) > 0))) throw new Error(`Operation failed: QueueDelete; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - queue '${q}' in use or not empty"`);
      queues.delete(q);
      return { messageCount: 0 };
    },
    assertQueue: async (q: string, opts: { arguments?: Record<string, unknown> }) => {
      const x = queues.get(q);
      if (x?.legacy && opts.arguments?.['x-max-priority'] === undefined) {
        throw new Error(`Operation failed: QueueDeclare; 406 (PRECONDITION-FAILED) with message "PRECONDITION_FAILED - inequivalent arg 'x-max-priority' for queue '${q}' in vhost '/': received none but current is the value '9' of type 'signedint'"`);
      }
      if (!x) queues.set(q, { legacy: false, messages: 0, others: 0 });
      return { queue: q };
    },
    bindQueue: async (q: string, x: string, key: string) => void bindings.add(`${x}/${key}->${q}`),
    unbindQueue: async (q: string, x: string, key: string) => void bindings.delete(`${x}/${key}->${q}`),
  };
  const amqp = { withChannel: async <T>(fn: (c: typeof ch) => Promise<T>): Promise<T> => fn(ch), on: () => undefined } as unknown as AmqpClient;
  return { queues, bindings, subs, amqp };
}

/** Redis, as far as the lease needs it. */
function leaseStore() {
  const keys = new Map<string, string>();
  const redis = {
    set: async (k: string, v: string, _px: string, _ms: number, nx: string) => {
      if (nx === 'NX' && keys.has(k)) return null;
      keys.set(k, v);
      return 'OK';
    },
    eval: async (script: string, _n: number, k: string, v: string) => {
      if (keys.get(k) !== v) return 0;
      if (script.includes("'del'")) keys.delete(k);
      return 1;
    },
  } as unknown as Redis;
  return { keys, redis };
}

function service(forms: QueueForms, b: ReturnType<typeof broker>, redis: Redis, id = 'n1') {
  const subs = { fanout: new FakeSub(t.nodeQueue(id)), ingress: new FakeSub(t.ingressQueue), ingressUrgent: new FakeSub(t.ingressUrgentQueue) };
  b.subs.push(...Object.values(subs));
  const env = { FARM_NAMESPACE: NS, NODE_ID: id, NODE_QUEUE_EXPIRES_MS: 1000 } as NodeEnv;
  const svc = new QueueUpgradeService(env, b.amqp, redis, forms, subs as unknown as NodeConsumers);
  return { svc, subs };
}

describe('QueueUpgradeService', () => {
  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['log', 'error', 'warn', 'debug', 'verbose']));
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('consumes a legacy node queue until it is empty, then replaces it, binds the new one and consumes it, and unbinds the twin', async () => {
    const b = broker();
    b.queues.set(t.nodeQueue('n1'), { legacy: true, messages: 3, others: 0 });
    b.bindings.add(`${t.fanoutExchange}/->${t.nodeUrgentQueue('n1')}`); // as the declarations left it
    const forms = Object.assign(new QueueForms(), { node: 'legacy' as const });
    const { svc, subs } = service(forms, b, leaseStore().redis);
    subs.fanout.paused = false; // the start-up sequence resumed it
    await svc.startIngress();
    await jest.advanceTimersByTimeAsync(3 * UPGRADE_STEP_MS);
    // Messages left: the old queue stays, and it is consumed.
    expect(b.queues.get(t.nodeQueue('n1'))?.legacy).toBe(true);
    expect(subs.fanout.paused).toBe(false);
    expect(svc.pending).toEqual([t.nodeQueue('n1')]);
    b.queues.get(t.nodeQueue('n1'))!.messages = 0;
    await jest.advanceTimersByTimeAsync(UPGRADE_STEP_MS);
    expect(b.queues.get(t.nodeQueue('n1'))).toEqual({ legacy: false, messages: 0, others: 0 });
    expect(b.bindings.has(`${t.fanoutExchange}/->${t.nodeQueue('n1')}`)).toBe(true);
    expect(b.bindings.has(`${t.fanoutExchange}/->${t.nodeUrgentQueue('n1')}`)).toBe(false);
    expect(subs.fanout.paused).toBe(false);
    expect(forms.node).toBe('current');
    expect(svc.replaced).toEqual([t.nodeQueue('n1')]);
  });

  it('goes on consuming when the broker refuses the deletion, and when deliveries stay in trouble past 30 s', async () => {
    const b = broker();
    b.queues.set(t.nodeQueue('n1'), { legacy: true, messages: 0, others: 1 }); // someone else still on it
    const forms = Object.assign(new QueueForms(), { node: 'legacy' as const });
    const { svc, subs } = service(forms, b, leaseStore().redis);
    subs.fanout.paused = false;
    await svc.startIngress();
    await jest.advanceTimersByTimeAsync(2 * UPGRADE_STEP_MS);
    expect(b.queues.get(t.nodeQueue('n1'))?.legacy).toBe(true);
    expect(subs.fanout.paused).toBe(false);
    // A delivery in trouble (Redis away): the step gives up after 30 s and the consumer takes deliveries again.
    b.queues.get(t.nodeQueue('n1'))!.others = 0;
    subs.fanout.inFlight = 1;
    await jest.advanceTimersByTimeAsync(31_000);
    expect(b.queues.get(t.nodeQueue('n1'))?.legacy).toBe(true);
    expect(subs.fanout.paused).toBe(false);
    subs.fanout.inFlight = 0;
    await jest.advanceTimersByTimeAsync(2 * UPGRADE_STEP_MS);
    expect(forms.node).toBe('current');
  });

  it('drains the shared ingress from one node only, waits for an earlier version\'s consumer to go, then replaces it and releases the lease', async () => {
    const b = broker();
    b.queues.set(t.ingressQueue, { legacy: true, messages: 2, others: 1 });
    const { keys, redis } = leaseStore();
    const forms1 = Object.assign(new QueueForms(), { ingress: 'legacy' as const });
    const forms2 = Object.assign(new QueueForms(), { ingress: 'legacy' as const });
    const one = service(forms1, b, redis, 'n1');
    const two = service(forms2, b, redis, 'n2');
    await one.svc.startIngress();
    await two.svc.startIngress();
    await jest.advanceTimersByTimeAsync(UPGRADE_STEP_MS);
    // The urgent twin takes ingress on both; the old queue is consumed by the lease holder alone.
    expect(one.subs.ingressUrgent.paused || two.subs.ingressUrgent.paused).toBe(false);
    expect(keys.get(ingressUpgradeKey(NS))).toBe('n1');
    expect(one.subs.ingress.paused).toBe(false);
    expect(two.subs.ingress.paused).toBe(true);
    expect(b.bindings.has(`${t.ingressExchange}/notification->${t.ingressUrgentQueue}`)).toBe(true);
    // Drained, but the earlier version's node still consumes it: not deleted.
    b.queues.get(t.ingressQueue)!.messages = 0;
    await jest.advanceTimersByTimeAsync(3 * UPGRADE_STEP_MS);
    expect(b.queues.get(t.ingressQueue)?.legacy).toBe(true);
    // It goes: the holder replaces the queue; the other node finds it replaced; both consume it.
    b.queues.get(t.ingressQueue)!.others = 0;
    await jest.advanceTimersByTimeAsync(2 * UPGRADE_STEP_MS);
    expect(b.queues.get(t.ingressQueue)?.legacy).toBe(false);
    expect(b.bindings.has(`${t.ingressExchange}/notification->${t.ingressQueue}`)).toBe(true);
    expect(b.bindings.has(`${t.ingressExchange}/notification->${t.ingressUrgentQueue}`)).toBe(false);
    expect([forms1.ingress, forms2.ingress]).toEqual(['current', 'current']);
    expect([one.subs.ingress.paused, two.subs.ingress.paused]).toEqual([false, false]);
    expect(keys.has(ingressUpgradeKey(NS))).toBe(false);
  });
});
