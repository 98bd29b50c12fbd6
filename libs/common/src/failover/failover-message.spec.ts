import fc from 'fast-check';
import { signCommand } from '../auth/command-signature';
import { Keyring } from '../auth/keyring';
import { FAILOVER_COMMAND, FailoverMessage, INVITE_COMMAND, InvitationMessage, signClientMessage, verifyClientMessage } from './failover-message';

// Hundreds of HMACs per property: generous under a loaded machine.
jest.setTimeout(30_000);

const ring = new Keyring([{ id: 'k1', secret: Buffer.alloc(32, 7), active: true }]);
const NOW = 1_764_288_000_000;
const NONCE = 'BBBBBBBBBBBBBBBBBBBBBB';
const me = { id: 'nas-1', address: '10.0.0.21' };
const failover: FailoverMessage = {
  kind: 'failover',
  server: { id: 'aaa-1', address: 'http://10.0.0.1:3001' },
  client: me,
  alternates: [{ id: 'aaa-2', address: 'http://10.0.0.2:3001', score: 20 }],
  reason: 'load',
  score: 91.5,
  components: [{ name: 'cpu', value: 0.95, weight: 2, points: 91.5 }],
};
const invitation: InvitationMessage = { kind: 'invitation', server: failover.server, client: me };

describe('signing and verifying client messages', () => {
  it('signs a failover message from its server to its client as failover.defer, and the client verifies it', () => {
    const header = signClientMessage(ring, failover, NOW, NONCE);
    expect(header).toMatch(new RegExp(`^v1 key=k1 from=aaa-1 to=nas-1 cmd=${FAILOVER_COMMAND} at=${NOW} nonce=${NONCE} sig=`));
    expect(verifyClientMessage(ring, header, failover, me, NOW + 1000)).toEqual({ ok: true, keyId: 'k1', head: { sender: 'aaa-1', receiver: 'nas-1', command: FAILOVER_COMMAND, issuedAt: NOW, nonce: NONCE }, message: failover });
  });

  it('signs an invitation as failover.invite; a failover signature does not pass for an invitation', () => {
    const header = signClientMessage(ring, invitation, NOW);
    expect(header).toContain(`cmd=${INVITE_COMMAND}`);
    expect(verifyClientMessage(ring, header, invitation, me, NOW)).toMatchObject({ ok: true });
    expect(verifyClientMessage(ring, signClientMessage(ring, failover, NOW), invitation, me, NOW)).toMatchObject({ ok: false, reason: 'misdirected' });
  });

  it('refuses a message meant for another client, or for this client at another address', () => {
    const header = signClientMessage(ring, failover, NOW);
    expect(verifyClientMessage(ring, header, failover, { id: 'nas-2', address: me.address }, NOW)).toMatchObject({ ok: false, reason: 'misdirected' });
    expect(verifyClientMessage(ring, header, failover, { id: me.id, address: '10.0.0.99' }, NOW)).toMatchObject({
      ok: false, reason: 'misdirected', message: 'meant for nas-1 at 10.0.0.21, received by nas-1 at 10.0.0.99',
    });
  });

  it('refuses a message signed by a node other than the server it names', () => {
    const header = signCommand(ring, { sender: 'aaa-9', receiver: me.id, command: FAILOVER_COMMAND, issuedAt: NOW, nonce: NONCE }, failover);
    expect(verifyClientMessage(ring, header, failover, me, NOW)).toMatchObject({ ok: false, reason: 'misdirected', message: 'signed by aaa-9, but the message names server aaa-1' });
  });

  it('refuses what is not a client message, a truncated signature, a stale one, and one of an unknown key', () => {
    const header = signClientMessage(ring, failover, NOW);
    expect(verifyClientMessage(ring, header, { ...failover, kind: 'reboot' }, me, NOW)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifyClientMessage(ring, header, { ...failover, alternates: 'anywhere' }, me, NOW)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifyClientMessage(ring, header, null, me, NOW)).toMatchObject({ ok: false, reason: 'malformed' });
    expect(verifyClientMessage(ring, header.slice(0, -2), failover, me, NOW)).toMatchObject({ ok: false, reason: 'truncated' });
    expect(verifyClientMessage(ring, header, failover, me, NOW + 30_001)).toMatchObject({ ok: false, reason: 'stale' });
    expect(verifyClientMessage(ring, header, failover, me, NOW + 5_001, 5_000)).toMatchObject({ ok: false, reason: 'stale' });
    const other = new Keyring([{ id: 'k9', secret: Buffer.alloc(32, 9), active: true }]);
    expect(verifyClientMessage(ring, signClientMessage(other, failover, NOW), failover, me, NOW)).toMatchObject({ ok: false, reason: 'unknown-key' });
    expect(verifyClientMessage(ring, undefined, failover, me, NOW)).toMatchObject({ ok: false, reason: 'missing' });
  });
});

const id = fc.stringMatching(/^[a-z0-9-]{1,12}$/);
const address = fc.stringMatching(/^[a-z0-9.:/]{1,24}$/);
const ref = fc.record({ id, address });
const messageArb: fc.Arbitrary<FailoverMessage> = fc.record({
  kind: fc.constant('failover' as const),
  server: ref,
  client: ref,
  alternates: fc.array(fc.record({ id, address, score: fc.integer({ min: 0, max: 100 }) }), { maxLength: 3 }),
  reason: fc.string({ maxLength: 20 }),
  score: fc.integer({ min: 0, max: 100 }),
  components: fc.constant([]),
});
const FIELDS = ['server address', 'client address', 'issued-at', 'nonce', 'reason', 'alternates'] as const;
type Field = (typeof FIELDS)[number];

/** The message and header after an attacker changed one signed field, keeping the old signature. */
function tamper(m: FailoverMessage, header: string, field: Field): { message: FailoverMessage; header: string } {
  switch (field) {
    case 'server address': return { message: { ...m, server: { ...m.server, address: `${m.server.address}x` } }, header };
    case 'client address': return { message: { ...m, client: { ...m.client, address: `${m.client.address}x` } }, header };
    case 'reason': return { message: { ...m, reason: `${m.reason}!` }, header };
    case 'alternates': return { message: { ...m, alternates: [...m.alternates, { id: 'evil', address: 'http://evil', score: 0 }] }, header };
    case 'issued-at': return { message: m, header: header.replace(/ at=(\d+)/, (_, at: string) => ` at=${Number(at) + 1}`) };
    case 'nonce': return { message: m, header: header.replace(/ nonce=(\S)/, (_, c: string) => ` nonce=${c === 'A' ? 'B' : 'A'}`) };
  }
}

describe('message properties', () => {
  it('property: a signed message verifies for its client, and a change of any signed field (either address, issued-at, nonce, body) makes it forged', () => {
    const seen: Record<string, number> = { samples: 0, addresses: 0, head: 0, body: 0 };
    fc.assert(
      fc.property(messageArb, fc.integer({ min: -20_000, max: 20_000 }), fc.stringMatching(/^[A-Za-z0-9_-]{16,32}$/), fc.constantFrom(...FIELDS), (m, skew, nonce, field) => {
        const header = signClientMessage(ring, m, NOW + skew, nonce);
        expect(verifyClientMessage(ring, header, m, m.client, NOW)).toMatchObject({ ok: true, message: m });
        const forged = tamper(m, header, field);
        expect(forged.header !== header || JSON.stringify(forged.message) !== JSON.stringify(m)).toBe(true);
        // The receiver believes the changed addresses (it is the client the attacker names): only the MAC can catch it.
        const v = verifyClientMessage(ring, forged.header, forged.message, forged.message.client, NOW);
        expect(v).toMatchObject({ ok: false, reason: 'forged' });
        seen.samples++;
        seen[field.endsWith('address') ? 'addresses' : field === 'issued-at' || field === 'nonce' ? 'head' : 'body']++;
      }),
      { numRuns: 300 },
    );
    for (const k of ['addresses', 'head', 'body']) expect(seen[k] / seen.samples).toBeGreaterThanOrEqual(0.2);
  });
});
