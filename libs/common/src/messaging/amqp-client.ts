import { EventEmitter } from 'node:events';
import * as amqp from 'amqplib';
import { BrokerUnavailableError } from '../domain/errors';
import { LoggerLike, nestLogger, describeUrl } from '../logging';
import { DeclarationConflict, describeConflict, parseDeclarationConflict } from './declaration-conflict';
import { Subscription, SubscriptionEvents, SubscriptionSpec } from './subscription';

export type SetupFn = (channel: amqp.Channel, conn: amqp.ChannelModel) => Promise<unknown>;

export interface AmqpClientOptions {
  url: string;
  /** Connection name shown in the broker's management UI. */
  name: string;
  logger?: LoggerLike;
  /** Milliseconds to wait for a publisher confirm before reporting failure. */
  confirmTimeoutMs?: number;
}

const HOW_TO_START = 'start it with `rabbitmq-server -detached` (or `docker compose up -d rabbitmq`) or point RABBITMQ_URL at a running broker';

/** Reconnection: amqplib's own recovery, 100 ms doubling to 2 s, each delay spread by half either way. */
export const RECONNECT = { initialDelay: 100, maxDelay: 2000, factor: 2, jitter: 0.5 } as const;

/** After a declaration conflict (which no fast retry can cure), the next connection waits this long. */
export const CONFLICT_RETRY_MS = 5000;

/**
 * One AMQP connection on amqplib's connection recovery (reconnection with jittered backoff),
 * plus what it leaves to the application: topology re-declared and consumers resumed on every
 * new connection, a confirm channel whose publishes resolve only on the broker's ack (and
 * reject on nack, close or timeout), and back-pressure through `drain`.
 */
export class AmqpClient extends EventEmitter {
  private recovering?: amqp.RecoveringChannelModel;
  private conn?: amqp.ChannelModel;
  private pub?: amqp.ConfirmChannel;
  private drainWait?: Promise<void>;
  private readonly setups: SetupFn[] = [];
  private readonly subscriptions: Subscription[] = [];
  private stopped = false;
  private failures = 0;
  private lastComplaint = 0;
  private readonly log: LoggerLike;
  connected = false;
  /** Milliseconds from the last disconnect to the last successful reconnect. */
  lastReconnectMs = 0;
  private disconnectedAt = 0;
  /** The declaration the broker refused, while it does (cleared on the next successful connection). */
  conflict?: DeclarationConflict;
  private conflictWait?: { timer: NodeJS.Timeout; done: () => void };

  constructor(private readonly opts: AmqpClientOptions) {
    super();
    this.log = opts.logger ?? nestLogger(opts.name);
  }

  /** Connects in the background; resolves at the first successful connection. */
  start(): Promise<void> {
    this.stopped = false;
    return new Promise((resolve) => {
      if (this.connected) return resolve();
      this.once('connected', () => resolve());
      if (!this.recovering) this.open().catch((err: Error) => this.log.error(`cannot connect to RabbitMQ at ${describeUrl(this.opts.url)}: ${err.message}`));
    });
  }

  /** Declarations to run (again) on every connection, before subscriptions resume. */
  addSetup(fn: SetupFn): void {
    this.setups.push(fn);
  }

  subscribe(spec: SubscriptionSpec, events: SubscriptionEvents = {}): Subscription {
    const sub = new Subscription(spec, this.log, events);
    this.subscriptions.push(sub);
    if (this.conn && this.connected) void sub.attach(this.conn);
    return sub;
  }

  /** Opens the recovering connection: amqplib connects, and reconnects after every loss, running `onConnection` each time. */
  private async open(): Promise<void> {
    const rc = await amqp.connect(this.opts.url, {
      clientProperties: { connection_name: this.opts.name },
      timeout: 5000,
      noDelay: true,
      recovery: { ...RECONNECT, waitForConnect: false, setup: (model: amqp.ChannelModel) => this.onConnection(model) },
    });
    this.recovering = rc;
    rc.on('error', (err: Error) => this.log.warn(`AMQP connection error: ${err.message}`));
    rc.on('disconnect', () => this.onClosed());
    rc.on('connect-failed', (err: Error) => this.complain(err));
  }

  private complain(err: Error): void {
    this.failures++;
    const now = Date.now();
    if (this.failures === 1 || now - this.lastComplaint > 30_000) {
      this.lastComplaint = now;
      const conflict = parseDeclarationConflict(err.message);
      if (conflict) this.log.error(`cannot set up on RabbitMQ at ${describeUrl(this.opts.url)}: ${describeConflict(conflict, CONFLICT_RETRY_MS)}`);
      else this.log.error(`RabbitMQ is not reachable at ${describeUrl(this.opts.url)} (${err.message}); ${HOW_TO_START}. Retrying.`);
    }
  }

  /** Holds a failed setup back before recovery tries again (cut short by stop()). */
  private waitAfterConflict(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.conflictWait = undefined;
        resolve();
      };
      const timer = setTimeout(done, CONFLICT_RETRY_MS);
      this.conflictWait = { timer, done };
    });
  }

  /** A new connection: topology, publisher, subscriptions. A failure here closes it and recovery tries again. */
  private async onConnection(conn: amqp.ChannelModel): Promise<void> {
    if (this.stopped) return;
    try {
      const setupChannel = await conn.createChannel();
      setupChannel.on('error', () => undefined);
      for (const fn of this.setups) await fn(setupChannel, conn);
      await setupChannel.close();
      await this.openPublisher(conn);
      this.conn = conn;
      this.connected = true;
      for (const sub of this.subscriptions) await sub.attach(conn);
    } catch (err) {
      this.connected = false;
      this.conn = undefined;
      this.pub = undefined;
      for (const sub of this.subscriptions) sub.detach();
      this.conflict = parseDeclarationConflict((err as Error).message);
      // Reconnecting at once cannot cure a conflict: slow the recovery to one try per CONFLICT_RETRY_MS.
      if (this.conflict && !this.stopped) {
        this.complain(err as Error); // said now, not after the wait (recovery's own complaint then folds into it)
        await this.waitAfterConflict();
      }
      throw err;
    }
    this.conflict = undefined;
    if (this.disconnectedAt > 0) {
      this.lastReconnectMs = Date.now() - this.disconnectedAt;
      this.log.log(`reconnected to RabbitMQ after ${this.lastReconnectMs} ms`);
    } else if (this.failures > 0) {
      this.log.log('connected to RabbitMQ');
    }
    this.failures = 0;
    this.disconnectedAt = 0;
    this.emit('connected');
  }

  private async openPublisher(conn: amqp.ChannelModel): Promise<void> {
    const ch = await conn.createConfirmChannel();
    ch.on('error', (err: Error) => this.log.warn(`publisher channel error: ${err.message}`));
    ch.on('close', () => {
      if (this.pub === ch) this.pub = undefined;
      this.drainWait = undefined;
      // The connection may still be up (e.g. a publish to a missing exchange): reopen.
      if (!this.stopped && this.conn === conn && this.connected) {
        void this.openPublisher(conn).catch((e: Error) => this.log.warn(`cannot reopen publisher channel: ${e.message}`));
      }
    });
    this.pub = ch;
  }

  private onClosed(): void {
    this.conn = undefined;
    this.pub = undefined;
    this.connected = false;
    this.disconnectedAt = Date.now();
    for (const sub of this.subscriptions) sub.detach();
    this.emit('disconnected');
    if (!this.stopped) this.log.warn('lost the RabbitMQ connection; reconnecting');
  }

  /**
   * Publishes a persistent message and resolves once the broker confirmed it. Rejects with
   * BrokerUnavailableError when not connected, nacked, the channel closed first, or timed out:
   * a caller never mistakes an unconfirmed message for a delivered one.
   */
  async publish(exchange: string, routingKey: string, content: Buffer, options: amqp.Options.Publish = {}): Promise<void> {
    if (this.drainWait) await this.drainWait;
    const ch = this.pub;
    if (!ch || !this.connected) throw new BrokerUnavailableError('RabbitMQ is not connected');
    const timeoutMs = this.opts.confirmTimeoutMs ?? 10_000;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new BrokerUnavailableError(`no publisher confirm within ${timeoutMs} ms`)), timeoutMs);
      try {
        const ok = ch.publish(exchange, routingKey, content, { persistent: true, ...options }, (err) => {
          clearTimeout(timer);
          if (err) reject(new BrokerUnavailableError(`publish not confirmed: ${err.message}`));
          else resolve();
        });
        if (!ok && !this.drainWait) {
          this.drainWait = new Promise<void>((r) => {
            const done = (): void => {
              ch.off('drain', done);
              ch.off('close', done);
              this.drainWait = undefined;
              r();
            };
            ch.on('drain', done);
            ch.on('close', done);
          });
        }
      } catch (err) {
        clearTimeout(timer);
        reject(new BrokerUnavailableError(`publish failed: ${(err as Error).message}`));
      }
    });
  }

  /** Queues whose consumers are paused because a delivery is in trouble (a dependency failing). */
  troubledQueues(): string[] {
    return this.subscriptions.filter((s) => s.troubled > 0 || s.heldFor.length > 0).map((s) => s.queue);
  }

  /** Runs a function on a short-lived channel (for checks that may close their channel). */
  async withChannel<T>(fn: (ch: amqp.Channel) => Promise<T>): Promise<T> {
    if (!this.conn || !this.connected) throw new BrokerUnavailableError('RabbitMQ is not connected');
    const ch = await this.conn.createChannel();
    ch.on('error', () => undefined);
    try {
      return await fn(ch);
    } finally {
      await ch.close().catch(() => undefined);
    }
  }

  /** A long-lived channel on the current connection (callers reopen it after 'connected'). */
  async openChannel(): Promise<amqp.Channel> {
    if (!this.conn || !this.connected) throw new BrokerUnavailableError('RabbitMQ is not connected');
    const ch = await this.conn.createChannel();
    ch.on('error', (err: Error) => this.log.warn(`channel error: ${err.message}`));
    return ch;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.conflictWait?.done();
    for (const sub of this.subscriptions) sub.detach();
    const rc = this.recovering;
    this.recovering = undefined;
    this.conn = undefined;
    this.pub = undefined;
    this.connected = false;
    if (rc) await rc.close().catch(() => undefined);
  }
}
