import { tokenHash } from '@farm/common/auth/tokens';
import { EXIT_FAILED, EXIT_OK, FarmctlIo, main } from './farmctl';

/** farmctl against a fake server: what it sent, what it printed. */
function harness(answer: { status: number; body: unknown }, io: Partial<FarmctlIo> = {}) {
  const sent: { url: string; authorization: string | null }[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const fake: typeof fetch = async (input, init) => {
    sent.push({ url: String(input), authorization: new Headers(init?.headers).get('authorization') });
    return new Response(JSON.stringify(answer.body), { status: answer.status, headers: { 'content-type': 'application/json' } });
  };
  const run = (argv: string[]) => main(argv, { out: (l) => void out.push(l), err: (l) => void err.push(l), fetch: fake, env: {}, ...io });
  return { sent, out, err, run };
}

const ACCEPTED = { status: 202, body: { id: 'n-1', timestamp: '2026-11-27T00:00:00.000Z' } };

describe('farmctl with operator tokens', () => {
  it('sends $FARM_TOKEN as a bearer token, and nothing without one', async () => {
    const h = harness(ACCEPTED, { env: { FARM_TOKEN: 'farm_secret1' } });
    expect(await h.run(['notify', '--target', 'mail', '--up'])).toBe(EXIT_OK);
    expect(h.sent[0].authorization).toBe('Bearer farm_secret1');
    const bare = harness(ACCEPTED);
    expect(await bare.run(['notify', '--target', 'mail', '--up'])).toBe(EXIT_OK);
    expect(bare.sent[0].authorization).toBeNull();
  });

  it('reads --token-file, and fails clearly when it cannot', async () => {
    const h = harness({ status: 200, body: { servers: [] } }, { readFile: (p) => (p === '/secrets/t' ? 'farm_fromfile\n' : '') });
    expect(await h.run(['servers', '--token-file', '/secrets/t'])).toBe(EXIT_OK);
    expect(h.sent[0].authorization).toBe('Bearer farm_fromfile');
    const missing = harness(ACCEPTED, {
      readFile: () => {
        throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      },
    });
    expect(await missing.run(['status', '--token-file', '/nowhere'])).toBe(EXIT_FAILED);
    expect(missing.err).toEqual(['farmctl: cannot read the token file /nowhere: ENOENT']);
    expect(missing.sent).toEqual([]);
  });

  it('explains a 401 and a 403, without printing the token', async () => {
    const none = harness({ status: 401, body: { error: 'unauthorized', reason: 'missing-token', message: 'an operator token is required' } });
    expect(await none.run(['notify', '--target', 'mail', '--up'])).toBe(EXIT_FAILED);
    expect(none.err).toEqual(['not authorized (401 from http://127.0.0.1:3000/v1/notifications): an operator token is required', '  no token was sent: set FARM_TOKEN or pass --token-file']);
    const wrong = harness({ status: 401, body: { message: 'the token is not known here' } }, { env: { FARM_TOKEN: 'farm_revoked' } });
    expect(await wrong.run(['status', '--target', 'mail'])).toBe(EXIT_FAILED);
    expect(wrong.err[1]).toBe('  the token was not accepted (revoked, mistyped, or from another farm)');
    const scope = harness({ status: 403, body: { message: 'token dash has scopes read; this needs admin' } }, { env: { FARM_TOKEN: 'farm_dash' } });
    expect(await scope.run(['servers', '--server', 'web-1', '--poll'])).toBe(EXIT_FAILED);
    expect(scope.err[0]).toBe('forbidden (403 from http://127.0.0.1:3200/v1/servers/web-1/poll): token dash has scopes read; this needs admin');
    expect([...none.err, ...wrong.err, ...scope.err].join('\n')).not.toMatch(/farm_/);
  });

  it('token create prints a new token once and the file entry holding only its hash', async () => {
    const h = harness(ACCEPTED);
    expect(await h.run(['token', 'create', '--name', 'ops', '--scopes', 'notify,read'])).toBe(EXIT_OK);
    expect(h.sent).toEqual([]);
    const token = h.out[1].trim();
    expect(token).toMatch(/^farm_[A-Za-z0-9_-]{43}$/);
    expect(JSON.parse(h.out[3])).toEqual({ name: 'ops', scopes: ['notify', 'read'], sha256: tokenHash(token) });
    expect(h.out[5]).toBe(`  export FARM_TOKEN=${token}`);
    const j = harness(ACCEPTED);
    await j.run(['token', 'create', '--name', 'ci', '--scopes', 'admin', '--json']);
    const doc = JSON.parse(j.out.join('\n')) as { token: string; entry: { sha256: string } };
    expect(doc.entry.sha256).toBe(tokenHash(doc.token));
  });
});

describe('farmctl servers', () => {
  it('shows each server\'s load score, zone and deferred clients, and a dash where it is not measured', async () => {
    const h = harness({ status: 200, body: { servers: [
      { id: 'web-1', list: 'normal', nextPollAt: '2026-11-28T00:00:30.000Z', deficiencies: [], load: { score: 72.5, zone: 'hold', deferred: ['c1', 'c2'], at: 'x' } },
      { id: 'web-2', list: 'critical', nextPollAt: '2026-11-28T00:00:05.000Z', deficiencies: [], load: null },
    ] } });
    expect(await h.run(['servers'])).toBe(EXIT_OK);
    expect(h.out[0]).toMatch(/^SERVER +LIST +LOAD +NEXT POLL +DEFICIENCIES$/);
    expect(h.out[1]).toMatch(/^-+( +-+){4}$/);
    expect(h.out[2]).toMatch(/^web-1 +normal +72\.5 hold \(2 deferred\) +2026-11-28T00:00:30\.000Z +-$/);
    expect(h.out[3]).toMatch(/^web-2 +critical +- +2026-11-28T00:00:05\.000Z +-$/);
  });
});
