import { readFileSync, writeFileSync } from 'node:fs';
import { CommandSigner, NODE_SYNC, RING_REPLACE, newToken, parseKeyFile, tokenEntry } from '../libs/common/src';
import { AppProcess } from '../libs/common/src/testing/farm-process';
import { waitFor } from '../libs/common/src/testing/wait-for';
import { TestFarm, notification } from './support/test-farm';

jest.setTimeout(90_000);

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

/** One request with an optional bearer token or other headers; the JSON answer (or its text). */
async function call(method: string, url: string, token?: string, headers: Record<string, string> = {}, body?: unknown): Promise<Answer> {
  const h: Record<string, string> = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  if (body !== undefined) h['content-type'] = 'application/json';
  const r = await fetch(url, { method, headers: h, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await r.text();
  try {
    return { status: r.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: r.status, body: { text } };
  }
}

/**
 * Who may do what, end to end: the apps started as deployed (FARM_AUTH on, token and key files),
 * called over HTTP with no token, tokens of each scope, and commands signed with the farm's
 * keyring or forged, replayed and misdirected.
 */
describe('operator tokens and signed commands', () => {
  const farm = new TestFarm('auth');
  const reader = newToken();
  const ops = newToken();
  const late = newToken();
  let notifier: AppProcess;
  let poller: AppProcess;
  let a: AppProcess;
  let signer: CommandSigner;

  /** Adds entries to the farm's token file (the processes reload it when it changes). */
  function addTokens(entries: ReturnType<typeof tokenEntry>[]): void {
    const doc = JSON.parse(readFileSync(farm.creds.tokensFile, 'utf8')) as { tokens: unknown[] };
    writeFileSync(farm.creds.tokensFile, JSON.stringify({ tokens: [...doc.tokens, ...entries] }));
  }

  beforeAll(async () => {
    addTokens([tokenEntry('dash', ['read'], reader), tokenEntry('ops', ['notify'], ops)]);
    await Promise.all(['a', 'b'].map((id) => farm.startNode(id)));
    a = farm.node('a');
    notifier = await farm.startNotifier();
    poller = await farm.startPoller();
    signer = new CommandSigner('b', parseKeyFile(readFileSync(farm.creds.keysFile, 'utf8'), 'keys'), Date.now);
  });
  afterAll(() => farm.cleanup());

  it('refuses a notification without a token (401) or without the notify scope (403), saying which, and takes it with one', async () => {
    const url = `${notifier.url}/v1/notifications`;
    const n = notification(1);
    const none = await call('POST', url, undefined, {}, n);
    expect(none).toMatchObject({ status: 401, body: { error: 'unauthorized', reason: 'missing-token' } });
    expect(String(none.body.message)).toMatch(/notify scope/);
    expect(await call('POST', url, newToken(), {}, n)).toMatchObject({ status: 401, body: { reason: 'unknown-token' } });
    expect(await call('POST', url, reader, {}, n)).toMatchObject({ status: 403, body: { error: 'forbidden', reason: 'missing-scope', message: 'token dash has scopes read; this needs notify' } });
    expect(await call('POST', url, ops, {}, n)).toMatchObject({ status: 202 });
    await waitFor('the notification applied on a', async () => (await a.snapshot()).count === 1);
  });

  it('needs read for reads, admin for the poller’s and a node’s state changes, and keeps health open', async () => {
    for (const p of [notifier, poller, a]) {
      expect((await call('GET', `${p.url}/metrics`)).status).toBe(401);
      expect((await call('GET', `${p.url}/metrics`, reader)).status).toBe(200);
      expect((await call('GET', `${p.url}/metrics`, ops)).status).toBe(403);
      for (const path of ['/v1/health', '/v1/health/live', '/v1/health/ready']) expect((await call('GET', `${p.url}${path}`)).status).toBe(200);
    }
    expect((await call('GET', `${a.url}/v1/availability`)).status).toBe(401);
    expect((await call('GET', `${a.url}/v1/availability`, reader)).status).toBe(200);
    expect(await call('POST', `${poller.url}/v1/servers/srv-x/poll`, reader)).toMatchObject({ status: 403, body: { message: 'token dash has scopes read; this needs admin' } });
    expect((await call('DELETE', `${poller.url}/v1/servers/srv-x`)).status).toBe(401);
    expect((await call('DELETE', `${poller.url}/v1/servers/srv-x`, farm.creds.token)).status).not.toBe(401);
    expect((await call('POST', `${a.url}/v1/sync?peers=b`, ops)).status).toBe(403);
    expect(await call('POST', `${a.url}/v1/sync?peers=b`, farm.creds.token)).toMatchObject({ status: 200 });
    // The applications' own routes are for their users, not the farm's operators.
    expect((await call('GET', `${a.url}/apps/web/read`)).status).toBe(200);
  });

  it('takes a signed sync from another process of the farm once, and refuses it replayed, forged or meant for another node', async () => {
    const url = `${a.url}/v1/sync`;
    const header = signer.httpHeaders('a', NODE_SYNC, {});
    expect((await call('POST', url, undefined, header)).status).toBe(200);
    expect(await call('POST', url, undefined, header)).toMatchObject({ status: 401, body: { reason: 'signature-replayed' } });
    const forged = { 'farm-signature': signer.httpHeaders('a', NODE_SYNC, {})['farm-signature'].replace(/sig=\S+/, `sig=${Buffer.alloc(32, 1).toString('base64url')}`) };
    expect(await call('POST', url, undefined, forged)).toMatchObject({ status: 401, body: { reason: 'signature-forged' } });
    expect(await call('POST', url, undefined, signer.httpHeaders('b', NODE_SYNC, {}))).toMatchObject({ status: 401, body: { reason: 'signature-misdirected' } });
    // Signed for one query, sent with another: the signature covers the query.
    expect(await call('POST', `${url}?peers=b`, undefined, signer.httpHeaders('a', NODE_SYNC, {}))).toMatchObject({ status: 401, body: { reason: 'signature-forged' } });
    expect(await call('POST', `${url}?peers=b`, undefined, signer.httpHeaders('a', NODE_SYNC, { peers: 'b' }))).toMatchObject({ status: 200 });
    // Counted by outcome in /metrics.
    const metrics = await (await fetch(`${a.url}/metrics`, { headers: farm.auth() })).text();
    const count = (outcome: string) => Number(new RegExp(`^farm_signed_commands_total\\{command="sync",outcome="${outcome}"\\} (\\d+)$`, 'm').exec(metrics)?.[1] ?? 0);
    expect([count('accepted'), count('replayed'), count('forged'), count('misdirected')]).toEqual([2, 1, 2, 1]);
  });

  it('refuses the unsigned ring replace that used to make a node stop watching its buddy, and the ring stays whole', async () => {
    const before = await a.get<{ ring: string[]; consistent: boolean }>('/v1/ring');
    const r = await call('POST', `${a.url}/v1/ring/replace?old=b&next=ghost`);
    expect(r).toMatchObject({ status: 401, body: { reason: 'missing-token' } });
    // A signature for another command does not open it either.
    const wrong = await call('POST', `${a.url}/v1/ring/replace?old=b&next=ghost`, undefined, signer.httpHeaders('a', NODE_SYNC, { old: 'b', next: 'ghost' }));
    expect(wrong).toMatchObject({ status: 401, body: { reason: 'signature-misdirected' } });
    expect(await a.get<{ ring: string[]; consistent: boolean }>('/v1/ring')).toEqual(before);
    expect((await call('GET', `${a.url}/v1/ring/ping`)).status).toBe(200);
    expect(RING_REPLACE).toBe('ring-replace');
  });

  it('refuses a correctly signed ring replace naming a ghost (409): the table says b is alive, and a still lists its buddy', async () => {
    const before = await a.get<{ servers: { id: string; buddyA: string | null; buddyB: string | null }[]; ring: string[]; consistent: boolean }>('/v1/ring');
    const r = await call('POST', `${a.url}/v1/ring/replace?old=b&next=ghost`, undefined, signer.httpHeaders('a', RING_REPLACE, { old: 'b', next: 'ghost' }));
    expect(r).toMatchObject({ status: 409, body: { error: 'conflict', reason: 'old-still-in-table', message: 'b is still in the ring table: a live node is not replaced' } });
    const after = await a.get<typeof before>('/v1/ring');
    expect(after).toEqual(before);
    expect(after.servers.find((s) => s.id === 'a')).toMatchObject({ buddyA: 'b', buddyB: 'b' });
    await waitFor('the refusal logged', async () => farm.logLines(/refused to replace b with ghost at the word of b \(old-still-in-table\)/).length >= 1);
    const metrics = await (await fetch(`${a.url}/metrics`, { headers: farm.auth() })).text();
    expect(metrics).toMatch(/^farm_signed_commands_total\{command="ring-replace",outcome="old-still-in-table"\} 1$/m);
  });

  it('reloads the token file when it changes: a new token works without a restart', async () => {
    expect((await call('GET', `${a.url}/v1/availability`, late)).status).toBe(401);
    addTokens([tokenEntry('late', ['read'], late)]);
    await waitFor('the new token accepted', async () => (await call('GET', `${a.url}/v1/availability`, late)).status === 200, 10_000, 100);
  });

  it('serves every app\'s OpenAPI document and the page showing it to anyone, without a token, while its routes still need one', async () => {
    for (const [p, title] of [[notifier, 'farm notifier'], [poller, 'farm poller'], [a, 'farm repeater']] as const) {
      const r = await fetch(`${p.url}/openapi.json`);
      expect([p.url, r.status]).toEqual([p.url, 200]);
      expect(r.headers.get('content-type')).toMatch(/^application\/json/);
      const doc = (await r.json()) as { openapi: string; info: { title: string }; paths: Record<string, unknown>; components: { securitySchemes: Record<string, unknown> } };
      expect(doc).toMatchObject({ openapi: expect.stringMatching(/^3\./), info: { title } });
      expect(Object.keys(doc.components.securitySchemes)).toEqual(['operatorToken', 'farmSignature']);
    }
    const doc = (await (await fetch(`${notifier.url}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(['/v1/notifications', '/v1/health', '/metrics']));
    const page = await fetch(`${notifier.url}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    const html = await page.text();
    // Swagger UI and the document come from the process itself: the page works without the internet.
    for (const asset of ['swagger-ui-bundle.js', 'swagger-ui-init.js']) {
      expect(html).toContain(`./docs/${asset}`);
      const r = await fetch(`${notifier.url}/docs/${asset}`);
      expect([asset, r.status]).toEqual([asset, 200]);
      if (asset === 'swagger-ui-init.js') expect(await r.text()).toContain('"/v1/notifications"');
    }
    expect((await call('GET', `${notifier.url}/metrics`)).status).toBe(401);
  });

  it('writes no token and no signature into any log line', async () => {
    await a.get('/v1/ring'); // one more authorised request, for the request log
    const logs = farm.logLines(/./).join('\n');
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of [reader, ops, late, farm.creds.token]) expect(logs).not.toContain(secret);
    expect(logs).not.toMatch(/sig=[A-Za-z0-9_-]{20}/);
  });
});

describe('FARM_PUBLIC_READS and FARM_AUTH=off', () => {
  const farm = new TestFarm('auth-modes');
  afterAll(() => farm.cleanup());

  it('with public reads, reads need no token and changes still do', async () => {
    const n = await farm.startNotifier({ FARM_PUBLIC_READS: 'true' });
    expect((await call('GET', `${n.url}/metrics`)).status).toBe(200);
    expect((await call('POST', `${n.url}/v1/notifications`, undefined, {}, notification(1))).status).toBe(401);
  });

  it('with FARM_AUTH=off, nothing is checked and the process says so at start', async () => {
    const node = await farm.startNode('dev', { FARM_AUTH: 'off', FARM_TOKENS_FILE: undefined, FARM_KEYS_FILE: undefined });
    expect((await call('POST', `${node.url}/v1/sync`)).status).toBe(200);
    expect((await call('GET', `${node.url}/v1/availability`)).status).toBe(200);
    expect(farm.logLines(/FARM_AUTH=off: no operator token and no command signature is checked/).length).toBeGreaterThanOrEqual(1);
  });
});
