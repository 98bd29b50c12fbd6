import { randomUUID } from 'node:crypto';
import type * as amqp from 'amqplib';
import { BrokerUnavailableError, PeerTimeoutError } from '../domain/errors';
import { AmqpClient } from './amqp-client';

const REPLY_TO = 'amq.rabbitmq.reply-to';

/** Request/reply over RabbitMQ's direct reply-to: no reply queue to declare or clean up. */
export class RpcClient {
  private ch?: amqp.Channel;
  private opening?: Promise<amqp.Channel>;
  private readonly pending = new Map<string, { resolve: (b: Buffer) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  /** Bytes sent and received, for the handshake's cost accounting. */
  bytesOut = 0;
  bytesIn = 0;

  constructor(private readonly client: AmqpClient) {
    client.on('disconnected', () => this.failAll(new BrokerUnavailableError('connection lost before the reply')));
  }

  private channel(): Promise<amqp.Channel> {
    if (this.ch) return Promise.resolve(this.ch);
    this.opening ??= (async () => {
      const ch = await this.client.openChannel();
      ch.on('close', () => {
        if (this.ch === ch) this.ch = undefined;
        this.failAll(new BrokerUnavailableError('reply channel closed'));
      });
      await ch.consume(REPLY_TO, (msg) => {
        if (!msg) return;
        const p = this.pending.get(msg.properties.correlationId as string);
        if (!p) return;
        this.pending.delete(msg.properties.correlationId as string);
        clearTimeout(p.timer);
        this.bytesIn += msg.content.length;
        p.resolve(msg.content);
      }, { noAck: true });
      this.ch = ch;
      return ch;
    })().finally(() => (this.opening = undefined));
    return this.opening;
  }

  private failAll(err: Error): void {
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(err);
      this.pending.delete(id);
    }
  }

  /** Sends a request to a queue and resolves with the reply body, or rejects after the timeout. */
  async call(queue: string, body: Buffer, timeoutMs: number, headers?: Record<string, string>): Promise<Buffer> {
    const ch = await this.channel();
    const correlationId = randomUUID();
    return new Promise<Buffer>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(correlationId);
        reject(new PeerTimeoutError(`no reply from ${queue} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(correlationId, { resolve, reject, timer });
      try {
        this.bytesOut += body.length;
        ch.sendToQueue(queue, body, { replyTo: REPLY_TO, correlationId, expiration: String(timeoutMs), contentType: 'application/json', headers });
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(correlationId);
        reject(new BrokerUnavailableError((err as Error).message));
      }
    });
  }
}
