import { Inject, Injectable } from '@nestjs/common';
import { CustomTransportStrategy, MessageHandler, Server } from '@nestjs/microservices';
import { lastValueFrom } from 'rxjs';
import { AmqpClient } from '../messaging/amqp-client';
import { Delivery, Subscription, SubscriptionEvents, SubscriptionSpec } from '../messaging/subscription';
import { FarmContext } from './farm-context';
import { AMQP_CLIENT } from '../availability/tokens';

/** The farm transport's id (`transportId`), for `@EventPattern(pattern, FARM_TRANSPORT)` where several transports meet. */
export const FARM_TRANSPORT = Symbol('farm-amqp');

/** Where one pattern's messages come from, and how its consumer behaves. */
export interface FarmRoute {
  /** The `@EventPattern` or `@MessagePattern` it serves. */
  pattern: string;
  queue: string;
  prefetch: number;
  /** Declares the queue, on every connection. */
  assert?: SubscriptionSpec['assert'];
  exclusive?: boolean;
  /** Created paused: the app resumes it when it is ready for it (a node, after its first handshake). */
  paused?: boolean;
  /** Refuses poison for good, e.g. dead-letters it with its reason (without one, poison is rejected). */
  refuse?: SubscriptionSpec['refuse'];
  events?: SubscriptionEvents;
  /** A background lane: its deliveries start this many per event-loop turn (see SubscriptionSpec.yieldEvery). */
  yieldEvery?: number;
}

/** The routes of an app (a provider: queue names depend on the namespace and the node). */
export const FARM_ROUTES = Symbol('FARM_ROUTES');

/**
 * Our broker as a NestJS transport: each route's queue is consumed through a `Subscription`
 * (manual acks, prefetch, pause and hold, acks batched per channel) and its deliveries go to the
 * `@EventPattern`/`@MessagePattern` handler of the route's pattern, through Nest's pipes,
 * guards, interceptors and filters. The handler's raw payload is the message body (a Buffer);
 * pipes turn it into a DTO. A delivery is acked only after the handler's promise (or stream)
 * completes; for a `@MessagePattern` the value is the reply (to the caller's `reply_to`).
 *
 * Poison or trouble, as everywhere in the farm: a handler that throws poison (input that can
 * never succeed, `InvalidNotificationError`) has its message refused with the reason; anything
 * else it throws is trouble: the delivery stays unacknowledged, the consumer takes nothing new,
 * and the handler runs again with capped, jittered backoff until it succeeds. Errors reach us
 * unchanged only with `KeepErrorsFilter` on the microservice (Nest's default filter would turn
 * them into plain objects).
 */
@Injectable()
export class FarmServer extends Server implements CustomTransportStrategy {
  override readonly transportId = FARM_TRANSPORT;
  private readonly subs = new Map<string, Subscription>();
  private listening?: () => void;
  private readonly listened = new Promise<void>((r) => (this.listening = r));

  constructor(
    @Inject(AMQP_CLIENT) private readonly amqp: AmqpClient,
    @Inject(FARM_ROUTES) private readonly routes: FarmRoute[],
  ) {
    super();
  }

  listen(callback: (err?: unknown) => void): void {
    try {
      for (const route of this.routes) {
        const handler = this.getHandlerByPattern(route.pattern);
        if (!handler) throw new Error(`no @EventPattern or @MessagePattern handler for route ${route.pattern}`);
        const spec: SubscriptionSpec = {
          queue: route.queue,
          prefetch: route.prefetch,
          assert: route.assert,
          exclusive: route.exclusive,
          paused: route.paused,
          refuse: route.refuse,
          yieldEvery: route.yieldEvery,
          handler: (d) => this.dispatch(route.pattern, handler, d),
        };
        this.subs.set(route.pattern, this.amqp.subscribe(spec, route.events));
      }
      this.listening?.();
      callback();
    } catch (err) {
      callback(err);
    }
  }

  /** Runs the handler; resolves when it is done (the subscription then acks), rejects with what it threw. */
  private async dispatch(pattern: string, handler: MessageHandler, d: Delivery): Promise<void> {
    const ctx = new FarmContext([d, pattern]);
    const result: unknown = await lastValueFrom(this.transformToObservable(await handler(d.content, ctx)), { defaultValue: undefined });
    if (handler.isEventHandler || !d.msg.properties.replyTo) return;
    d.reply(Buffer.isBuffer(result) ? result : Buffer.from(JSON.stringify(result ?? null)));
  }

  /** The consumer of a route, to pause, resume or hold it. */
  subscription(pattern: string): Subscription {
    const s = this.subs.get(pattern);
    if (!s) throw new Error(`no route ${pattern} is listening: connect the farm transport (app.connectMicroservice({ strategy: app.get(FarmServer) }), then app.startAllMicroservices())`);
    return s;
  }

  /** The consumer of a route, if the transport is listening. */
  subscriptionIfListening(pattern: string): Subscription | undefined {
    return this.subs.get(pattern);
  }

  /** Resolves once `listen` has created every route's consumer. */
  whenListening(): Promise<void> {
    return this.listened;
  }

  async close(): Promise<void> {
    await Promise.all([...this.subs.values()].map((s) => s.pause().catch(() => undefined)));
  }

  on(): never {
    throw new Error('the farm transport has no events to listen to; use the AmqpClient');
  }

  unwrap<T>(): T {
    return this.amqp as T;
  }
}
