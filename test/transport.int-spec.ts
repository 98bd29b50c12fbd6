import 'reflect-metadata';
import { CanActivate, ExecutionContext, INestApplication, Inject, Injectable, UseGuards, ValidationPipe } from '@nestjs/common';
import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import * as amqp from 'amqplib';
import { IsIn, IsInt, IsOptional, IsString, Max, Min } from 'class-validator';
import { firstValueFrom } from 'rxjs';
import { AMQP_CLIENT } from '../libs/common/src/availability/tokens';
import { InvalidNotificationError, PeerTimeoutError } from '../libs/common/src/domain/errors';
import { AmqpClient } from '../libs/common/src/messaging/amqp-client';
import { deadLetter } from '../libs/common/src/messaging/dead-letter';
import { uniqueNamespace } from '../libs/common/src/testing/brokers';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { FARM_ROUTES, FarmClient, FarmConsumer, FarmContext, FarmRecord, FarmRoute, FarmServer, JsonBodyPipe } from '../libs/common/src/transport';

jest.setTimeout(60_000);

/**
 * The farm transport as NestJS sees it, in the style of Nest's own transport specs: handlers
 * are `@EventPattern`/`@MessagePattern` methods of a controller, messages pass the same
 * ValidationPipe and DTOs as HTTP, and the farm's rules hold underneath (poison dead-lettered
 * with its reason; trouble retried until it succeeds; acks only after the handler; RPC timeouts).
 */
class ItemDto {
  @IsString() id!: string;
  @IsIn(['ok', 'trouble', 'poison', 'gated']) kind!: string;
  @IsOptional() @IsInt() @Min(0) @Max(10) troubleTimes?: number;
}

class EchoDto {
  @IsInt() @Min(0) delayMs!: number;
  @IsString() value!: string;
}

/** What the handlers saw, for the assertions. */
class Probe {
  handled: string[] = [];
  attempts = new Map<string, number>();
  redelivered = new Set<string>();
  properties = new Map<string, amqp.MessageProperties>();
  gate?: Promise<void>;
  gateEntered?: () => void;
}
const PROBE = Symbol('probe');
const validate = new ValidationPipe({ whitelist: true, forbidNonWhitelisted: true });

/** A guard as a message's credential check would be: refuses a message that says it is unsigned. */
@Injectable()
class RefuseUnsigned implements CanActivate {
  static checked = 0;
  canActivate(context: ExecutionContext): boolean {
    RefuseUnsigned.checked++;
    const m = context.switchToRpc().getContext<FarmContext>().getMessage();
    return m.properties.headers?.['x-unsigned'] !== true;
  }
}

@FarmConsumer()
class Handlers {
  constructor(@Inject(PROBE) private readonly probe: Probe) {}

  @EventPattern<string>('items')
  @UseGuards(RefuseUnsigned)
  async item(@Payload(JsonBodyPipe, validate) item: ItemDto, @Ctx() ctx: FarmContext): Promise<void> {
    const p = this.probe;
    const n = (p.attempts.get(item.id) ?? 0) + 1;
    p.attempts.set(item.id, n);
    if (ctx.getMessage().fields.redelivered) p.redelivered.add(item.id);
    p.properties.set(item.id, ctx.getMessage().properties);
    if (item.kind === 'poison') throw new InvalidNotificationError(`item ${item.id} can never be handled`);
    if (item.kind === 'trouble' && n <= (item.troubleTimes ?? 0)) throw new Error(`dependency down (attempt ${n})`);
    if (item.kind === 'gated') {
      p.gateEntered?.();
      await p.gate;
    }
    p.handled.push(item.id);
  }

  @MessagePattern('echo')
  async echo(@Payload(JsonBodyPipe, validate) req: EchoDto): Promise<{ echoed: string }> {
    await new Promise((r) => setTimeout(r, req.delayMs));
    return { echoed: req.value };
  }
}

describe('farm transport (NestJS custom transport + ClientProxy)', () => {
  const ns = uniqueNamespace('transport');
  const q = { items: `${ns}.items`, echo: `${ns}.echo`, dead: `${ns}.dead`, deadX: `${ns}.dead-x` };
  let client: AmqpClient;
  let app: INestApplication;
  let server: FarmServer;
  let farmClient: FarmClient;
  let probe: Probe;
  let raw: amqp.ChannelModel;
  let ch: amqp.ConfirmChannel;

  async function publishItem(item: Record<string, unknown>): Promise<void> {
    ch.sendToQueue(q.items, Buffer.from(JSON.stringify(item)), { persistent: true });
    await ch.waitForConfirms();
  }

  async function deadLetters(): Promise<{ reason: string; body: string }[]> {
    const out: { reason: string; body: string }[] = [];
    for (;;) {
      const m = await ch.get(q.dead, { noAck: true });
      if (!m) return out;
      out.push({ reason: String(m.properties.headers?.['x-reject-reason'] ?? ''), body: m.content.toString() });
    }
  }

  async function start(): Promise<void> {
    probe = new Probe();
    client = new AmqpClient({ url: process.env.RABBITMQ_URL!, name: `${ns} transport`, confirmTimeoutMs: 5000 });
    client.addSetup(async (c) => {
      await c.assertExchange(q.deadX, 'fanout', { durable: false, autoDelete: true });
      await c.assertQueue(q.dead, { durable: false, autoDelete: false });
      await c.bindQueue(q.dead, q.deadX, '');
    });
    const routes: FarmRoute[] = [
      {
        pattern: 'items',
        queue: q.items,
        prefetch: 10,
        assert: (c) => c.assertQueue(q.items, { durable: true }),
        refuse: (d, reason) => deadLetter(client, q.deadX, d, q.items, reason),
      },
      { pattern: 'echo', queue: q.echo, prefetch: 4, assert: (c) => c.assertQueue(q.echo, { durable: false, autoDelete: true }) },
    ];
    const mod = await Test.createTestingModule({
      controllers: [Handlers],
      providers: [{ provide: AMQP_CLIENT, useValue: client }, { provide: FARM_ROUTES, useValue: routes }, { provide: PROBE, useValue: probe }, FarmServer],
    }).compile();
    app = mod.createNestApplication({ logger: false });
    server = app.get(FarmServer);
    app.connectMicroservice({ strategy: server });
    await app.startAllMicroservices();
    await app.init();
    await client.start();
    farmClient = new FarmClient(client, { route: (p) => ({ queue: p === 'echo' ? q.echo : q.items }), timeoutMs: 500 });
  }

  beforeAll(async () => {
    raw = await amqp.connect(process.env.RABBITMQ_URL!);
    ch = await raw.createConfirmChannel();
    await start();
  });

  afterAll(async () => {
    await app?.close();
    await client?.stop();
    for (const queue of [q.items, q.echo, q.dead]) await ch.deleteQueue(queue).catch(() => undefined);
    await ch.deleteExchange(q.deadX).catch(() => undefined);
    await raw.close();
  });

  it('hands each message to its @EventPattern handler, validated by the DTO, and acks it after', async () => {
    for (let i = 0; i < 20; i++) await publishItem({ id: `ok-${i}`, kind: 'ok' });
    await waitFor('20 items handled', () => probe.handled.length >= 20, 10_000);
    expect([...probe.handled].sort()).toEqual(Array.from({ length: 20 }, (_, i) => `ok-${i}`).sort());
    await waitFor('queue empty and nothing unacked', async () => (await ch.checkQueue(q.items)).messageCount === 0 && server.subscription('items').inFlight === 0, 5000);
  });

  it('dead-letters poison with its reason: thrown by the handler, or refused by the ValidationPipe', async () => {
    await publishItem({ id: 'p-1', kind: 'poison' });
    await publishItem({ id: 'p-2', kind: 'no-such-kind' });
    await publishItem({ id: 'p-3', kind: 'ok', sudo: true });
    ch.sendToQueue(q.items, Buffer.from('{"id": "p-4", "kind": '), { persistent: true });
    await ch.waitForConfirms();
    await publishItem({ id: 'after-poison', kind: 'ok' });
    await waitFor('after-poison handled', () => probe.handled.includes('after-poison'), 10_000);
    const dead: { reason: string; body: string }[] = [];
    await waitFor('four dead letters', async () => (dead.push(...(await deadLetters())), dead.length >= 4), 10_000);
    expect(dead).toHaveLength(4);
    const reasons = Object.fromEntries(dead.map((d) => [(/"id": ?"(p-\d)"/.exec(d.body) ?? [])[1], d.reason]));
    expect(reasons['p-1']).toBe('item p-1 can never be handled');
    expect(reasons['p-2']).toMatch(/kind must be one of/);
    expect(reasons['p-3']).toMatch(/property sudo should not exist/);
    expect(reasons['p-4']).toMatch(/malformed JSON/);
    // Poison reached the handler at most once, and none of it was handled.
    expect(probe.attempts.get('p-1')).toBe(1);
    expect(probe.handled.filter((id) => id.startsWith('p-'))).toEqual([]);
  });

  it('dead-letters a message its guard refuses with the reason, at once and without retrying it', async () => {
    const checkedBefore = RefuseUnsigned.checked;
    ch.sendToQueue(q.items, Buffer.from(JSON.stringify({ id: 'u-1', kind: 'ok' })), { persistent: true, headers: { 'x-unsigned': true } });
    await ch.waitForConfirms();
    await publishItem({ id: 'after-unsigned', kind: 'ok' });
    await waitFor('after-unsigned handled', () => probe.handled.includes('after-unsigned'), 10_000);
    const dead: { reason: string; body: string }[] = [];
    await waitFor('one dead letter', async () => (dead.push(...(await deadLetters())), dead.length >= 1), 10_000);
    expect(dead).toEqual([{ reason: 'Forbidden resource', body: JSON.stringify({ id: 'u-1', kind: 'ok' }) }]);
    // The guard saw each message once: the refused one was not retried, and its handler never ran.
    expect(RefuseUnsigned.checked - checkedBefore).toBe(2);
    expect(probe.attempts.has('u-1')).toBe(false);
  });

  it('retries trouble on the same delivery until it succeeds, losing nothing and handling each once', async () => {
    const ids = Array.from({ length: 5 }, (_, i) => `t-${i}`);
    for (const id of ids) await publishItem({ id, kind: 'trouble', troubleTimes: 3 });
    await waitFor('every troubled item handled', () => ids.every((id) => probe.handled.includes(id)), 20_000);
    for (const id of ids) {
      expect(probe.handled.filter((h) => h === id)).toHaveLength(1);
      expect(probe.attempts.get(id)).toBe(4);
    }
    expect(await deadLetters()).toEqual([]);
  });

  it('acks only after the handler resolves: a message whose handler is cut off comes back', async () => {
    let open!: () => void;
    probe.gate = new Promise<void>((r) => (open = r));
    const entered = new Promise<void>((r) => (probe.gateEntered = r));
    await publishItem({ id: 'g-1', kind: 'gated' });
    await entered;
    // The handler is still running: the message is taken but not acked. Cut the connection.
    await app.close();
    await client.stop();
    open();
    await waitFor('g-1 back in its queue', async () => (await ch.checkQueue(q.items)).messageCount === 1, 10_000);
    probe.gate = undefined;
    await start();
    await waitFor('g-1 handled after the restart', () => probe.handled.includes('g-1'), 10_000);
    expect(probe.redelivered.has('g-1')).toBe(true);
  });

  it('answers a @MessagePattern request through the ClientProxy, and the caller times out on a slow handler', async () => {
    expect(await firstValueFrom(farmClient.send('echo', { delayMs: 0, value: 'hello' }))).toEqual(Buffer.from(JSON.stringify({ echoed: 'hello' })));
    const t0 = Date.now();
    await expect(firstValueFrom(farmClient.send('echo', { delayMs: 900, value: 'late' }))).rejects.toBeInstanceOf(PeerTimeoutError);
    expect(Date.now() - t0).toBeLessThan(1500);
  });

  it('answers only to the caller’s own reply queue, never into a queue the request names', async () => {
    const snoop = `${ns}.snoop`;
    await ch.assertQueue(snoop, { durable: false, autoDelete: false });
    try {
      ch.sendToQueue(q.echo, Buffer.from(JSON.stringify({ delayMs: 0, value: 'steal me' })), { replyTo: snoop, correlationId: 'x' });
      await ch.waitForConfirms();
      // The same request from a proper caller is answered; the first one was taken and settled too.
      expect(await firstValueFrom(farmClient.send('echo', { delayMs: 0, value: 'mine' }))).toEqual(Buffer.from(JSON.stringify({ echoed: 'mine' })));
      await waitFor('both requests settled', async () => (await ch.checkQueue(q.echo)).messageCount === 0 && server.subscription('echo').inFlight === 0, 5000);
      expect((await ch.checkQueue(snoop)).messageCount).toBe(0);
    } finally {
      await ch.deleteQueue(snoop).catch(() => undefined);
    }
  });

  it('emits an event through the ClientProxy that completes only once the broker confirmed it', async () => {
    await firstValueFrom(farmClient.emit('items', { id: 'emitted-1', kind: 'ok' }), { defaultValue: undefined });
    await waitFor('emitted-1 handled', () => probe.handled.includes('emitted-1'), 10_000);
  });

  it('emits a FarmRecord with its own AMQP properties', async () => {
    await firstValueFrom(farmClient.emit('items', new FarmRecord({ id: 'record-1', kind: 'ok' }, { messageId: 'm-record-1', priority: 7 })), { defaultValue: undefined });
    await waitFor('record-1 handled', () => probe.handled.includes('record-1'), 10_000);
    expect(probe.properties.get('record-1')).toMatchObject({ messageId: 'm-record-1', priority: 7, deliveryMode: 2 });
  });
});
