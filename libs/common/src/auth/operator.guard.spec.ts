import 'reflect-metadata';
import { Controller, Delete, Get, INestApplication, Post } from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import { Test } from '@nestjs/testing';
import { FarmExceptionFilter } from '../http/farm-exception.filter';
import { CommandHead } from './command-signature';
import { CommandSigner, CommandVerifier } from './command-verifier';
import { Keyring } from './keyring';
import { COMMAND_VERIFIER, CommandSender, FarmCommand, OPERATOR_AUTH, OperatorAuth, OperatorGuard, PublicRoute, RequiresScope } from './operator.guard';
import { newToken, tokenEntry } from './tokens';

@Controller()
class Routes {
  @Get('things') list() {
    return { things: [] };
  }
  @Post('notifications') @RequiresScope('notify') notify() {
    return { accepted: true };
  }
  @Delete('things/1') forget() {
    return { forgotten: true };
  }
  @Get('health/live') @PublicRoute() live() {
    return { status: 'ok' };
  }
  @Post('ring/replace') @FarmCommand('ring-replace') replace() {
    return { replaced: true };
  }
  @Post('ring/sender') @FarmCommand('ring-replace') sender(@CommandSender() sender?: string) {
    return { sender: sender ?? null };
  }
}

const ring = new Keyring([{ id: 'k1', secret: Buffer.alloc(32, 5), active: true }]);
const seen = new Set<string>();
const verifier = new CommandVerifier({
  receiver: 'node-a',
  keyring: ring,
  now: Date.now,
  nonces: {
    claim: async (_r: string, h: CommandHead) => {
      if (seen.has(h.nonce)) return false;
      seen.add(h.nonce);
      return true;
    },
  },
});
const buddy = new CommandSigner('node-b', ring, Date.now);

const ops = newToken();
const reader = newToken();
const admin = newToken();

describe('OperatorGuard over HTTP', () => {
  const auth: OperatorAuth = { mode: 'on', publicReads: false, tokens: () => [tokenEntry('ops', ['notify'], ops), tokenEntry('dash', ['read'], reader), tokenEntry('root', ['admin'], admin)] };
  let app: INestApplication;
  let base: string;

  beforeAll(async () => {
    const mod = await Test.createTestingModule({ controllers: [Routes], providers: [{ provide: OPERATOR_AUTH, useValue: auth }, { provide: COMMAND_VERIFIER, useValue: verifier }, { provide: APP_GUARD, useClass: OperatorGuard }] }).compile();
    app = mod.createNestApplication({ logger: false });
    app.useGlobalFilters(new FarmExceptionFilter());
    await app.listen(0, '127.0.0.1');
    base = (await app.getUrl()).replace('[::1]', '127.0.0.1');
  });
  afterAll(() => app.close());
  afterEach(() => {
    auth.mode = 'on';
    auth.publicReads = false;
  });

  async function call(method: string, path: string, token?: string, extra: Record<string, string> = {}): Promise<{ status: number; body: Record<string, unknown>; www: string | null }> {
    const res = await fetch(`${base}/${path}`, { method, headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...extra } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, www: res.headers.get('www-authenticate') };
  }

  it('answers 401 without a token, saying what is needed, with a WWW-Authenticate challenge', async () => {
    const r = await call('POST', 'notifications');
    expect(r).toMatchObject({ status: 401, www: 'Bearer realm="farm"', body: { error: 'unauthorized', reason: 'missing-token' } });
    expect(r.body.message).toMatch(/notify scope/);
    expect(await call('GET', 'things', newToken())).toMatchObject({ status: 401, body: { reason: 'unknown-token' } });
  });

  it('answers 403 to a known token without the scope, naming the token and the scope', async () => {
    expect(await call('POST', 'notifications', reader)).toMatchObject({ status: 403, www: null, body: { error: 'forbidden', reason: 'missing-scope', message: 'token dash has scopes read; this needs notify' } });
    expect(await call('GET', 'things', ops)).toMatchObject({ status: 403, body: { message: 'token ops has scopes notify; this needs read' } });
  });

  it('lets each scope do what it grants: a declared scope, read for GET, admin for other state changes', async () => {
    expect(await call('POST', 'notifications', ops)).toMatchObject({ status: 201, body: { accepted: true } });
    expect(await call('GET', 'things', reader)).toMatchObject({ status: 200 });
    expect(await call('DELETE', 'things/1', reader)).toMatchObject({ status: 403, body: { message: expect.stringMatching(/needs admin$/) } });
    expect(await call('DELETE', 'things/1', admin)).toMatchObject({ status: 200, body: { forgotten: true } });
    expect(await call('POST', 'notifications', admin)).toMatchObject({ status: 201 });
  });

  it('keeps public routes open, opens reads only when configured, and everything when auth is off', async () => {
    expect(await call('GET', 'health/live')).toMatchObject({ status: 200 });
    expect(await call('GET', 'things')).toMatchObject({ status: 401 });
    auth.publicReads = true;
    expect(await call('GET', 'things')).toMatchObject({ status: 200 });
    expect(await call('DELETE', 'things/1')).toMatchObject({ status: 401 });
    auth.publicReads = false;
    auth.mode = 'off';
    expect(await call('DELETE', 'things/1')).toMatchObject({ status: 200 });
    expect(await call('POST', 'notifications')).toMatchObject({ status: 201 });
  });

  it('takes a signed command on a @FarmCommand route, once, over its exact query; or an admin token', async () => {
    const headers = buddy.httpHeaders('node-a', 'ring-replace', { old: 'b', next: 'c' });
    expect(await call('POST', 'ring/replace?old=b&next=c', undefined, headers)).toMatchObject({ status: 201, body: { replaced: true } });
    expect(await call('POST', 'ring/replace?old=b&next=c', undefined, headers)).toMatchObject({ status: 401, body: { reason: 'signature-replayed' } });
    expect(await call('POST', 'ring/replace?old=b&next=ghost', undefined, buddy.httpHeaders('node-a', 'ring-replace', { old: 'b', next: 'c' }))).toMatchObject({ status: 401, body: { reason: 'signature-forged' } });
    expect(await call('POST', 'ring/replace?old=b&next=c', undefined, buddy.httpHeaders('node-a', 'sync', { old: 'b', next: 'c' }))).toMatchObject({ status: 401, body: { reason: 'signature-misdirected' } });
    expect(await call('POST', 'ring/replace?old=b&next=c')).toMatchObject({ status: 401, body: { reason: 'missing-token' } });
    expect(await call('POST', 'ring/replace?old=b&next=c', admin)).toMatchObject({ status: 201 });
    // A signature opens only the routes marked for it.
    expect(await call('DELETE', 'things/1', undefined, buddy.httpHeaders('node-a', 'ring-replace', {}))).toMatchObject({ status: 401, body: { reason: 'missing-token' } });
  });

  it('gives the route the verified sender of a signed command, and none to an operator token or with auth off', async () => {
    expect(await call('POST', 'ring/sender?old=b&next=c', undefined, buddy.httpHeaders('node-a', 'ring-replace', { old: 'b', next: 'c' }))).toMatchObject({ status: 201, body: { sender: 'node-b' } });
    // A header claiming another sender, with the buddy's MAC, is forged: the route never sees the claim.
    const claimed = buddy.httpHeaders('node-a', 'ring-replace', {})['farm-signature'].replace('from=node-b', 'from=node-c');
    expect(await call('POST', 'ring/sender', undefined, { 'farm-signature': claimed })).toMatchObject({ status: 401, body: { reason: 'signature-forged' } });
    expect(await call('POST', 'ring/sender', admin)).toMatchObject({ status: 201, body: { sender: null } });
    auth.mode = 'off';
    expect(await call('POST', 'ring/sender', undefined, buddy.httpHeaders('node-a', 'ring-replace', {}))).toMatchObject({ status: 201, body: { sender: null } });
  });
});
