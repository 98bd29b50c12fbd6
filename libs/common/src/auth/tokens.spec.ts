import fc from 'fast-check';
import { ConfigError } from '../domain/errors';
import { authorize, bearerToken, grants, identify, newToken, parseScopes, parseTokenFile, tokenEntry, tokenHash } from './tokens';

jest.setTimeout(30_000);

const ops = newToken();
const reader = newToken();
const admin = newToken();
const entries = [tokenEntry('ops', ['notify', 'read'], ops), tokenEntry('dash', ['read'], reader), tokenEntry('root', ['admin'], admin)];

describe('operator tokens', () => {
  it('are 256 random bits with a recognisable prefix, stored as their SHA-256 only', () => {
    expect(ops).toMatch(/^farm_[A-Za-z0-9_-]{43}$/);
    expect(newToken()).not.toBe(newToken());
    expect(entries[0]).toEqual({ name: 'ops', scopes: ['notify', 'read'], sha256: tokenHash(ops) });
    expect(tokenHash('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(JSON.stringify(entries)).not.toContain(ops);
  });

  it('read the bearer token of an Authorization header', () => {
    expect(bearerToken(`Bearer ${ops}`)).toBe(ops);
    expect(bearerToken(`bearer  ${ops} `)).toBe(ops);
    expect(bearerToken([`Bearer ${ops}`])).toBe(ops);
    expect(bearerToken(undefined)).toBeUndefined();
    expect(bearerToken(`Basic ${ops}`)).toBeUndefined();
    expect(bearerToken('Bearer a b')).toBeUndefined();
  });

  it('identify the entry a token belongs to, and nothing for a stranger or a near miss', () => {
    expect(identify(entries, reader)?.name).toBe('dash');
    expect(identify(entries, newToken())).toBeUndefined();
    expect(identify(entries, ops.slice(0, -1))).toBeUndefined();
    expect(identify(entries, tokenHash(ops))).toBeUndefined(); // the hash is not a credential
  });

  it('grant a scope only to a token that has it, or admin', () => {
    expect(grants(['read'], 'read')).toBe(true);
    expect(grants(['read'], 'notify')).toBe(false);
    expect(grants(['notify'], 'read')).toBe(false);
    expect(grants(['admin'], 'notify')).toBe(true);
    expect(grants(['admin'], 'read')).toBe(true);
  });

  it('authorize: 401 without a token or with an unknown one, 403 without the scope, and say which', () => {
    expect(authorize(entries, undefined, 'notify')).toMatchObject({ ok: false, status: 401, reason: 'missing-token', message: expect.stringContaining('notify scope') });
    expect(authorize(entries, `Bearer ${newToken()}`, 'read')).toMatchObject({ ok: false, status: 401, reason: 'unknown-token' });
    expect(authorize(entries, `Bearer ${reader}`, 'notify')).toEqual({ ok: false, status: 403, reason: 'missing-scope', name: 'dash', message: 'token dash has scopes read; this needs notify' });
    expect(authorize(entries, `Bearer ${ops}`, 'admin')).toMatchObject({ ok: false, status: 403 });
    expect(authorize(entries, `Bearer ${ops}`, 'notify')).toEqual({ ok: true, name: 'ops' });
    expect(authorize(entries, `Bearer ${admin}`, 'notify')).toEqual({ ok: true, name: 'root' });
    // No refusal repeats the token it was given.
    for (const t of [ops, reader]) for (const s of ['admin', 'notify'] as const) expect(JSON.stringify(authorize(entries, `Bearer ${t}`, s))).not.toContain(t);
  });

  it('property: a token is accepted for a scope exactly when its entry grants it', () => {
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(fc.subarray(['read', 'notify', 'admin'] as const, { minLength: 1 }), fc.constantFrom('read', 'notify', 'admin') as fc.Arbitrary<'read' | 'notify' | 'admin'>, (scopes, required) => {
        const t = newToken();
        const d = authorize([...entries, tokenEntry('x', [...scopes], t)], `Bearer ${t}`, required);
        expect(d.ok).toBe(scopes.includes(required) || scopes.includes('admin'));
        if (d.ok) accepted++;
        else refused++;
      }),
      { numRuns: 200 },
    );
    // Both outcomes were exercised (about 3 in 4 are accepted: admin grants all).
    expect(accepted).toBeGreaterThanOrEqual(40);
    expect(refused).toBeGreaterThanOrEqual(20);
  });
});

describe('parseTokenFile', () => {
  const file = (tokens: unknown) => JSON.stringify({ tokens });

  it('reads entries, lower-casing hashes and dropping repeated scopes', () => {
    const h = tokenHash(ops).toUpperCase();
    expect(parseTokenFile(file([{ name: 'ops', scopes: ['notify', 'read', 'read'], sha256: h }]), 'tokens.json')).toEqual([{ name: 'ops', scopes: ['notify', 'read'], sha256: tokenHash(ops) }]);
    expect(parseTokenFile(file([]), 'tokens.json')).toEqual([]);
  });

  it.each([
    ['not JSON', '{', /tokens.json is not JSON/],
    ['no list', '{"token":[]}', /must be \{"tokens"/],
    ['a bad name', file([{ name: 'a b', scopes: ['read'], sha256: 'a'.repeat(64) }]), /tokens\[0\]: name must be/],
    ['a name twice', file([{ name: 'a', scopes: ['read'], sha256: 'a'.repeat(64) }, { name: 'a', scopes: ['read'], sha256: 'b'.repeat(64) }]), /tokens\[1\]: name a appears twice/],
    ['an unknown scope', file([{ name: 'a', scopes: ['root'], sha256: 'a'.repeat(64) }]), /scopes must be a non-empty list of read, notify, admin/],
    ['no scopes', file([{ name: 'a', scopes: [], sha256: 'a'.repeat(64) }]), /scopes must be/],
    ['a token where its hash belongs', file([{ name: 'a', scopes: ['read'], sha256: 'farm_secret' }]), /sha256 must be 64 hex digits \(the token's SHA-256, not the token\)/],
  ])('refuses %s with a ConfigError naming the file', (_what, text, message) => {
    expect(() => parseTokenFile(text, 'tokens.json')).toThrow(ConfigError);
    expect(() => parseTokenFile(text, 'tokens.json')).toThrow(message);
  });

  it('never echoes what it refuses', () => {
    const text = file([{ name: 'a', scopes: ['read'], sha256: 'farm_topsecretvalue' }]);
    expect(() => parseTokenFile(text, 'f')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('topsecret') }));
  });
});

describe('parseScopes', () => {
  it('reads a comma-separated list and refuses unknown or no scopes', () => {
    expect(parseScopes('notify, read,notify')).toEqual(['notify', 'read']);
    expect(() => parseScopes('notify,root')).toThrow('unknown scope "root"; choose from read, notify, admin');
    expect(() => parseScopes(' , ')).toThrow(/no scopes given/);
  });
});
