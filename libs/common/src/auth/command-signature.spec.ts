import fc from 'fast-check';
import { createHmac } from 'node:crypto';
import { canonicalCommand, canonicalJson, CommandHead, newNonce, parseSignature, sameMac, scanSignature, signCommand, verifyCommand } from './command-signature';
import { Keyring } from './keyring';

// Hundreds of HMACs per property: generous under a loaded machine, where jest's 5 s default is not.
jest.setTimeout(30_000);

const k1 = { id: 'k1', secret: Buffer.alloc(32, 1), active: true };
const k2 = { id: 'k2', secret: Buffer.alloc(32, 2), active: false };
const ring = new Keyring([k1, k2]);
const NOW = 1_764_288_000_000;
const head: CommandHead = { sender: 'poller-1', receiver: 'web-3', command: 'set-clock', issuedAt: NOW, nonce: 'AAAAAAAAAAAAAAAAAAAAAA' };
const expected = { receiver: 'web-3', command: 'set-clock' };
const body = { op: 'set-clock', offsetMs: 1500, at: '2026-11-27T22:00:00.000Z' };

/** `value` with the keys of every object in it in another order (a permutation chosen by `seed`). */
function reorder(value: unknown, seed: number): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map((v, i) => reorder(v, seed + i));
  const keys = Object.keys(value);
  const order = keys.map((k, i) => ({ k, w: Math.sin(seed * 31 + i * 17) })).sort((a, b) => a.w - b.w);
  const out: Record<string, unknown> = {};
  // defineProperty, not assignment: a key named "__proto__" (as JSON.parse makes it) stays a key.
  for (const { k } of order) Object.defineProperty(out, k, { value: reorder((value as Record<string, unknown>)[k], seed + 1), enumerable: true, writable: true, configurable: true });
  return out;
}

const ids = fc.stringMatching(/^[A-Za-z0-9_.-]{1,20}$/);
const heads = fc.record({
  sender: ids,
  receiver: ids,
  command: ids,
  issuedAt: fc.integer({ min: NOW - 20_000, max: NOW + 20_000 }),
  nonce: fc.stringMatching(/^[A-Za-z0-9_-]{16,40}$/),
});
const bodies = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 3 }), { minKeys: 1, maxKeys: 8 });

describe('canonical form', () => {
  it('sorts keys at every depth and keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, { z: 1, y: 2 }], c: null } })).toBe('{"a":{"c":null,"d":[3,{"y":2,"z":1}]},"b":1}');
    expect(canonicalJson({ a: undefined, b: 2 })).toBe('{"b":2}');
  });

  it('keeps a key named __proto__ (as JSON.parse makes one) in its place, and signs it whatever the key order', () => {
    const body = JSON.parse('{"b": 1, "__proto__": {"x": false}}') as unknown;
    expect(canonicalJson(body)).toBe('{"__proto__":{"x":false},"b":1}');
    const other = JSON.parse('{"__proto__": {"x": false}, "b": 1}') as unknown;
    expect(signCommand(ring, head, other)).toBe(signCommand(ring, head, body));
    expect(signCommand(ring, head, { b: 1 })).not.toBe(signCommand(ring, head, body));
  });

  it('is a JSON text that parses back to the same value', () => {
    fc.assert(fc.property(fc.jsonValue(), (v) => expect(JSON.parse(canonicalJson(v))).toEqual(JSON.parse(JSON.stringify(v)))));
  });

  it('property: any reordering of the body’s keys gives the same signature', () => {
    let reordered = 0;
    fc.assert(
      fc.property(heads, bodies, fc.integer(), (h, b, seed) => {
        const shuffled = reorder(b, seed);
        if (JSON.stringify(shuffled) !== JSON.stringify(b)) reordered++;
        expect(signCommand(ring, h, shuffled)).toBe(signCommand(ring, h, b));
        expect(verifyCommand(ring, signCommand(ring, h, b), h, shuffled, h.issuedAt)).toMatchObject({ ok: true });
      }),
      { numRuns: 300 },
    );
    // The property is about a different key order: it must have been one in a fair share of runs.
    expect(reordered).toBeGreaterThanOrEqual(60);
  });

  it('property: any change of a signed field breaks the signature', () => {
    const tampered: Record<string, number> = {};
    fc.assert(
      fc.property(heads, bodies, fc.constantFrom('sender', 'receiver', 'command', 'issuedAt', 'nonce', 'body'), (h, b, field) => {
        const header = signCommand(ring, h, b);
        const parsed = parseSignature(header);
        if ('reason' in parsed) throw new Error(parsed.message);
        const forgedHead: CommandHead = { ...h };
        let forgedBody: unknown = b;
        if (field === 'body') forgedBody = { ...b, ['\u0000tamper']: canonicalJson(b) };
        else if (field === 'issuedAt') forgedHead.issuedAt = h.issuedAt + 1;
        else forgedHead[field] = `${h[field]}x`;
        // Precondition, made certain: the signed text differs.
        expect(canonicalCommand(forgedHead, forgedBody)).not.toBe(canonicalCommand(h, b));
        // The attacker keeps the old sig and key, and rewrites the header to match the change.
        const forgedHeader = `v1 key=k1 from=${forgedHead.sender} to=${forgedHead.receiver} cmd=${forgedHead.command} at=${forgedHead.issuedAt} nonce=${forgedHead.nonce} sig=${parsed.sig}`;
        const v = verifyCommand(ring, forgedHeader, forgedHead, forgedBody, forgedHead.issuedAt);
        expect(v).toMatchObject({ ok: false, reason: 'forged' });
        tampered[field] = (tampered[field] ?? 0) + 1;
      }),
      { numRuns: 360 },
    );
    for (const f of ['sender', 'receiver', 'command', 'issuedAt', 'nonce', 'body']) expect(tampered[f]).toBeGreaterThanOrEqual(30);
  });
});

describe('the fast paths agree with the general ones', () => {
  it('property: a header as signed is read the same by the one-expression reader and the scan', () => {
    const ring = new Keyring([{ id: 'k1', secret: Buffer.alloc(32, 1), active: true }]);
    let fast = 0;
    fc.assert(
      fc.property(heads, bodies, fc.constantFrom('as-signed', 'reordered', 'spaced'), (h, b, shape) => {
        const signed = signCommand(ring, h, b);
        const fields = signed.split(' ').slice(1);
        const header = shape === 'as-signed' ? signed : shape === 'reordered' ? `v1 ${[...fields].reverse().join(' ')}` : `v1  ${fields.join('  ')} `;
        if (shape === 'as-signed') fast++;
        const { plain, ...read } = parseSignature(header) as ReturnType<typeof parseSignature> & { plain?: true };
        expect(read).toEqual(scanSignature(signed));
        // Only the one-expression reader vouches that the head needs no escaping.
        expect(plain).toBe(shape === 'as-signed' ? true : undefined);
      }),
      { numRuns: 300 },
    );
    expect(fast).toBeGreaterThan(300 * 0.2);
  });

  it('property: the head of the canonical form is the JSON text of the head as an array', () => {
    // Half the heads are made of plain ids (the fast path), half of any strings (mostly needing escapes).
    const four = fc.oneof(fc.tuple(ids, ids, ids, ids), fc.tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.string({ minLength: 1, maxLength: 12 }), fc.string({ minLength: 1, maxLength: 12 }), fc.string({ minLength: 1, maxLength: 12 })));
    let plain = 0;
    let escaped = 0;
    fc.assert(
      fc.property(four, fc.integer({ min: 0, max: 2 ** 50 }), ([sender, receiver, command, nonce], issuedAt) => {
        const line = canonicalCommand({ sender, receiver, command, issuedAt, nonce }, null).split('\n')[1];
        if ([sender, receiver, command, nonce].every((x) => /^[A-Za-z0-9_.:@-]*$/.test(x))) plain++;
        else escaped++;
        expect(line).toBe(JSON.stringify([sender, receiver, command, issuedAt, nonce]));
      }),
      { numRuns: 300 },
    );
    expect(plain).toBeGreaterThan(300 * 0.2);
    expect(escaped).toBeGreaterThan(300 * 0.2);
  });
});

describe('the MAC and its comparison', () => {
  it('signs with HMAC-SHA256 of the canonical text under the active key, base64url', () => {
    const sig = /sig=([A-Za-z0-9_-]+)$/.exec(signCommand(ring, head, body))?.[1];
    expect(sig).toBe(createHmac('sha256', k1.secret).update(canonicalCommand(head, body), 'utf8').digest('base64url'));
  });

  it('property: sameMac is string equality, and one changed character anywhere makes it false', () => {
    const macs = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('base64url'));
    fc.assert(
      fc.property(macs, macs, fc.nat(), (a, b, at) => {
        expect(sameMac(a, b)).toBe(a === b);
        expect(sameMac(a, a)).toBe(true);
        const i = at % a.length;
        const other = a[i] === 'A' ? 'B' : 'A';
        expect(sameMac(a, `${a.slice(0, i)}${other}${a.slice(i + 1)}`)).toBe(false);
      }),
    );
    expect(sameMac('abc', 'abcd')).toBe(false);
  });
});

describe('verifyCommand over the bytes a sender sent', () => {
  const at = { receiver: 'web-3', command: 'set-clock' };
  it('checks a body sent in canonical form over its bytes, and any other form over the canonical form of its value', () => {
    const header = signCommand(ring, head, body);
    const canonical = canonicalJson(body);
    expect(verifyCommand(ring, header, at, JSON.parse(canonical), NOW, undefined, canonical)).toMatchObject({ ok: true });
    const reordered = JSON.stringify({ op: body.op, offsetMs: body.offsetMs, at: body.at }, null, 1);
    expect(reordered).not.toBe(canonical);
    expect(verifyCommand(ring, header, at, JSON.parse(reordered), NOW, undefined, reordered)).toMatchObject({ ok: true });
  });

  it('refuses a changed body whichever path it takes', () => {
    const header = signCommand(ring, head, body);
    const changed = canonicalJson({ ...body, offsetMs: 9999 });
    expect(verifyCommand(ring, header, at, JSON.parse(changed), NOW, undefined, changed)).toMatchObject({ ok: false, reason: 'forged' });
  });
});

describe('verifyCommand', () => {
  const header = signCommand(ring, head, body);

  it('accepts a command signed for this receiver and command, within the window', () => {
    expect(header).toMatch(/^v1 key=k1 from=poller-1 to=web-3 cmd=set-clock at=1764288000000 nonce=A{22} sig=[A-Za-z0-9_-]{43}$/);
    expect(verifyCommand(ring, header, expected, body, NOW)).toEqual({ ok: true, keyId: 'k1', head });
    expect(verifyCommand(ring, header, expected, body, NOW + 30_000)).toMatchObject({ ok: true });
    expect(verifyCommand(ring, header, expected, body, NOW - 30_000)).toMatchObject({ ok: true });
  });

  it('refuses a missing or unreadable header', () => {
    expect(verifyCommand(ring, undefined, expected, body, NOW)).toMatchObject({ ok: false, reason: 'missing' });
    expect(verifyCommand(ring, 'v2 key=k1', expected, body, NOW)).toMatchObject({ ok: false, reason: 'malformed', message: 'unknown signature version "v2"' });
    expect(verifyCommand(ring, header.replace(/ nonce=\S+/, ''), expected, body, NOW)).toMatchObject({ ok: false, reason: 'malformed', message: 'the signature has no nonce' });
    expect(verifyCommand(ring, header.replace('at=1764288000000', 'at=soon'), expected, body, NOW)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifyCommand(ring, `${header} key=k2`, expected, body, NOW)).toMatchObject({ ok: false, reason: 'malformed', message: 'signature field key appears twice' });
  });

  it('refuses a command meant for another receiver or another command', () => {
    expect(verifyCommand(ring, header, { receiver: 'web-4', command: 'set-clock' }, body, NOW)).toMatchObject({ ok: false, reason: 'misdirected', message: 'signed as set-clock for web-3, received as set-clock by web-4' });
    expect(verifyCommand(ring, header, { receiver: 'web-3', command: 'ring-replace' }, body, NOW)).toMatchObject({ ok: false, reason: 'misdirected' });
  });

  it('refuses a truncated signature, a changed body and a wrong key', () => {
    expect(verifyCommand(ring, header.slice(0, -1), expected, body, NOW)).toMatchObject({ ok: false, reason: 'truncated', message: 'the signature is 31 bytes, not 32' });
    expect(verifyCommand(ring, header, expected, { ...body, offsetMs: 259_200_000 }, NOW)).toMatchObject({ ok: false, reason: 'forged' });
    const stranger = new Keyring([{ id: 'k1', secret: Buffer.alloc(32, 9), active: true }]);
    expect(verifyCommand(ring, signCommand(stranger, head, body), expected, body, NOW)).toMatchObject({ ok: false, reason: 'forged' });
    const elsewhere = new Keyring([{ id: 'k9', secret: Buffer.alloc(32, 9), active: true }]);
    expect(verifyCommand(ring, signCommand(elsewhere, head, body), expected, body, NOW)).toMatchObject({ ok: false, reason: 'unknown-key', message: 'signed with key k9, which this keyring does not hold' });
  });

  it('refuses a command issued outside the window, either way', () => {
    expect(verifyCommand(ring, header, expected, body, NOW + 30_001)).toMatchObject({ ok: false, reason: 'stale', message: 'issued 30001 ms ago; the window is 30000 ms' });
    expect(verifyCommand(ring, header, expected, body, NOW - 30_001)).toMatchObject({ ok: false, reason: 'early' });
    expect(verifyCommand(ring, header, expected, body, NOW + 5_001, 5_000)).toMatchObject({ ok: false, reason: 'stale' });
  });

  it('accepts every key of the ring during a rotation, and signs with the active one', () => {
    const before = new Keyring([k1]);
    const during = new Keyring([k1, { ...k2, active: false }]);
    const after = new Keyring([{ ...k1, active: false }, { ...k2, active: true }]);
    const last = new Keyring([{ ...k2, active: true }]);
    // Old signers and new receivers, new signers and old-but-updated receivers: nothing refused.
    expect(verifyCommand(during, signCommand(before, head, body), expected, body, NOW)).toMatchObject({ ok: true, keyId: 'k1' });
    expect(verifyCommand(during, signCommand(after, head, body), expected, body, NOW)).toMatchObject({ ok: true, keyId: 'k2' });
    expect(verifyCommand(after, signCommand(during, head, body), expected, body, NOW)).toMatchObject({ ok: true, keyId: 'k1' });
    expect(verifyCommand(last, signCommand(after, head, body), expected, body, NOW)).toMatchObject({ ok: true, keyId: 'k2' });
    // Once k1 is dropped, what it signs is refused.
    expect(verifyCommand(last, signCommand(before, head, body), expected, body, NOW)).toMatchObject({ ok: false, reason: 'unknown-key' });
  });

  it('refuses to sign what it could not verify', () => {
    expect(() => signCommand(ring, { ...head, sender: 'a b' }, body)).toThrow(/sender "a b" is not an id/);
    expect(() => signCommand(ring, { ...head, nonce: 'short' }, body)).toThrow(/nonce/);
    expect(newNonce()).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(newNonce()).not.toBe(newNonce());
  });
});
