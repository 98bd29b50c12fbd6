import 'reflect-metadata';
import { INestApplication } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import type Redis from 'ioredis';
import {
  COMMAND_VERIFIER,
  CommandSigner,
  CommandVerifier,
  FarmExceptionFilter,
  Keyring,
  MetricsService,
  NodeEnv,
  OPERATOR_AUTH,
  OperatorAuth,
  OperatorGuard,
  RING_REPLACE,
  RingService,
  RingTable,
  announce,
  applyReplace,
  newToken,
  remove,
  tokenEntry,
} from '@farm/common';
import { RingController } from './ring.controller';

const keys = new Keyring([{ id: 'k1', secret: Buffer.alloc(32, 7), active: true }]);
const signer = (id: string) => new CommandSigner(id, keys, Date.now);
const admin = newToken();

/** The replace route of node `a` over HTTP: the real guard, controller, service and watcher, on an in-memory table. */
describe('POST /v1/ring/replace', () => {
  let table: RingTable = {};
  let app: INestApplication;
  let base: string;
  const metrics = new MetricsService();
  const counted = async (outcome: string) => (await metrics.signedCommands.get()).values.find((v) => v.labels.command === RING_REPLACE && v.labels.outcome === outcome)?.value ?? 0;

  beforeAll(async () => {
    const env = { FARM_NAMESPACE: 'unit', NODE_ID: 'a', PING_INTERVAL_MS: 1000, PING_MISSES: 3 } as NodeEnv;
    const redis = { duplicate: () => ({ on: () => undefined, status: 'wait' }) } as unknown as Redis;
    const ring = new RingService(env, redis, undefined, metrics);
    jest.spyOn(ring.repo, 'replace').mockImplementation(async (id, old, next, sender) => {
      const r = applyReplace(table, id, old, next, sender);
      table = r.table;
      return r.verdict;
    });
    const verifier = new CommandVerifier({ receiver: 'a', keyring: keys, now: Date.now, nonces: { claim: async () => true } });
    const auth: OperatorAuth = { mode: 'on', publicReads: false, tokens: () => [tokenEntry('root', ['admin'], admin)] };
    const mod = await Test.createTestingModule({
      controllers: [RingController],
      providers: [{ provide: RingService, useValue: ring }, { provide: OPERATOR_AUTH, useValue: auth }, { provide: COMMAND_VERIFIER, useValue: verifier }, { provide: APP_GUARD, useClass: OperatorGuard }],
    }).compile();
    app = mod.createNestApplication({ logger: false });
    app.useGlobalFilters(new FarmExceptionFilter());
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(() => app.close());
  beforeEach(() => {
    table = {};
    for (const id of ['a', 'b', 'c', 'd']) table = announce(table, id, `http://${id}`, Object.keys(table)[0]);
  });

  async function replace(old: string, next: string, from?: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const headers = from ? signer(from).httpHeaders('a', RING_REPLACE, { old, next }) : { authorization: `Bearer ${admin}` };
    const r = await fetch(`${base}/v1/ring/replace?${new URLSearchParams({ old, next }).toString()}`, { method: 'POST', headers });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  }

  it('refuses a correctly signed replace of a live buddy by a ghost with 409, counts it, and changes nothing', async () => {
    const buddy = table.a.buddyA as string;
    const before = table;
    const r = await replace(buddy, 'ghost', buddy);
    expect(r).toMatchObject({ status: 409, body: { error: 'conflict', reason: 'old-still-in-table' } });
    expect(r.body.message).toBe(`${buddy} is still in the ring table: a live node is not replaced`);
    expect(table).toEqual(before);
    expect(await counted('old-still-in-table')).toBe(1);
  });

  it('refuses with 403 a signed replace from a node that is neither the old buddy nor the new one', async () => {
    const buddy = table.a.buddyA as string;
    const third = ['b', 'c', 'd'].find((x) => x !== table.a.buddyA && x !== table.a.buddyB) as string;
    expect(await replace(buddy, 'ghost', third)).toMatchObject({ status: 403, body: { error: 'forbidden', reason: 'sender-not-a-party' } });
    expect(await counted('sender-not-a-party')).toBe(1);
  });

  it('takes the replace a cut sends, and judges an operator\'s replace by the table alone, uncounted', async () => {
    // a's buddy `dead` is cut out by its other buddy, which tells a.
    const dead = table.a.buddyA as string;
    const cutter = table[dead].buddyA === 'a' ? (table[dead].buddyB as string) : (table[dead].buddyA as string);
    table = remove(table, dead).table;
    expect(await replace(dead, cutter, cutter)).toEqual({ status: 200, body: { ok: true, changed: false } });
    expect(await replace(dead, 'ghost')).toMatchObject({ status: 409, body: { reason: 'next-not-in-table' } });
    expect(await counted('next-not-in-table')).toBe(0);
  });
});
