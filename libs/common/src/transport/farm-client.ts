import { ClientProxy, ReadPacket, WritePacket } from '@nestjs/microservices';
import type * as amqp from 'amqplib';
import { AmqpClient } from '../messaging/amqp-client';
import { RpcClient } from '../messaging/rpc';
import { FarmRecord } from './farm-record';

/** Where a pattern's messages go: an exchange (events) or a queue (events or requests). */
export type FarmDestination = { exchange: string; routingKey?: string } | { queue: string };

export interface FarmClientOptions {
  /** Maps a pattern (as given to `send`/`emit`) to where it goes. Throws for a pattern it does not know. */
  route: (pattern: string) => FarmDestination;
  /** A request without a reply within this many ms fails with PeerTimeoutError. */
  timeoutMs: number;
  /** AMQP properties of every event (e.g. contentType). */
  properties?: amqp.Options.Publish;
}

/**
 * Our broker as a NestJS `ClientProxy`: `send(pattern, data)` is a request over RabbitMQ's
 * direct reply-to (no reply queue to declare), failing with PeerTimeoutError after
 * `timeoutMs`; `emit(pattern, data)` publishes persistently and completes only on the broker's
 * confirm (BrokerUnavailableError otherwise, so a caller never mistakes an unconfirmed message
 * for a delivered one). Bodies are the data itself, JSON (a Buffer goes as it is): the farm's
 * wire format has no envelope, the pattern only chooses the destination.
 */
export class FarmClient extends ClientProxy {
  private readonly rpc: RpcClient;

  constructor(
    private readonly amqp: AmqpClient,
    private readonly options: FarmClientOptions,
  ) {
    super();
    this.rpc = new RpcClient(amqp);
  }

  /** Bytes sent and received by requests (the handshake accounts for them). */
  get bytes(): { out: number; in: number } {
    return { out: this.rpc.bytesOut, in: this.rpc.bytesIn };
  }

  /**
   * Starts the app's connection if nobody did, without waiting for it: while the broker is away
   * a request or an event fails at once (BrokerUnavailableError) instead of waiting unseen.
   */
  connect(): Promise<void> {
    if (!this.amqp.connected) void this.amqp.start();
    return Promise.resolve();
  }

  close(): void {
    // The connection belongs to the app (its AmqpClient), not to this client.
  }

  unwrap<T>(): T {
    return this.amqp as T;
  }

  protected publish(packet: ReadPacket, callback: (packet: WritePacket) => void): () => void {
    let cancelled = false;
    const answer = (p: WritePacket): void => {
      if (!cancelled) callback(p);
    };
    try {
      const dest = this.options.route(packet.pattern as string);
      if (!('queue' in dest)) throw new Error(`pattern ${String(packet.pattern)} goes to an exchange; requests need a queue`);
      // A FarmRecord's headers go with the request (a signature, say); its other properties are the client's.
      const record = packet.data instanceof FarmRecord ? packet.data : undefined;
      const headers = record?.properties.headers as Record<string, string> | undefined;
      this.rpc.call(dest.queue, encode(record ? record.data : packet.data), this.options.timeoutMs, headers).then(
        (reply) => answer({ response: reply, isDisposed: true }),
        (err: unknown) => answer({ err, isDisposed: true }),
      );
    } catch (err) {
      answer({ err, isDisposed: true });
    }
    return () => (cancelled = true);
  }

  protected async dispatchEvent<T = unknown>(packet: ReadPacket): Promise<T> {
    const dest = this.options.route(packet.pattern as string);
    const record = packet.data instanceof FarmRecord ? packet.data : undefined;
    const body = encode(record ? record.data : packet.data);
    const properties = { ...this.options.properties, ...record?.properties };
    if ('queue' in dest) await this.amqp.publish('', dest.queue, body, properties);
    else await this.amqp.publish(dest.exchange, dest.routingKey ?? '', body, properties);
    return undefined as T;
  }

  // Errors reach the caller as they were thrown (PeerTimeoutError, BrokerUnavailableError), not serialized.
  protected override serializeError(err: unknown): unknown {
    return err;
  }
}

function encode(data: unknown): Buffer {
  return Buffer.isBuffer(data) ? data : Buffer.from(JSON.stringify(data ?? null));
}
