import { CommandHead } from './command-signature';
import { CommandSigner, CommandVerifier, NonceCache, RefusedCommand } from './command-verifier';
import { Keyring } from './keyring';

/** A nonce cache in memory (the real one is Redis: test/signed-commands.int-spec.ts). */
class MemoryNonces implements NonceCache {
  readonly seen = new Map<string, number>();
  async claim(receiver: string, head: CommandHead, ttlMs: number): Promise<boolean> {
    const key = `${receiver}:${head.sender}:${head.nonce}`;
    if (this.seen.has(key)) return false;
    this.seen.set(key, ttlMs);
    return true;
  }
}

const ring = new Keyring([{ id: 'k1', secret: Buffer.alloc(32, 7), active: true }]);
let clock = 1_764_288_000_000;
const now = () => clock;

describe('CommandVerifier and CommandSigner', () => {
  const refused: RefusedCommand[] = [];
  const nonces = new MemoryNonces();
  const verifier = new CommandVerifier({ receiver: 'web-3', keyring: ring, nonces, now, onRefused: (r) => refused.push(r) });
  const poller = new CommandSigner('poller-1', ring, now);

  it('accepts a signed command once, and refuses its replay', async () => {
    const body = { op: 'set-clock', offsetMs: 20 };
    const header = poller.sign('web-3', 'set-clock', body);
    expect(await verifier.verify(header, 'set-clock', body)).toMatchObject({ ok: true, head: { sender: 'poller-1', receiver: 'web-3', command: 'set-clock' } });
    expect(await verifier.verify(header, 'set-clock', body)).toMatchObject({ ok: false, reason: 'replayed' });
    // Remembered long enough for the replay to have gone stale first: twice the window, and a second.
    expect([...nonces.seen.values()]).toEqual([61_000]);
    expect(refused.at(-1)).toMatchObject({ receiver: 'web-3', command: 'set-clock', reason: 'replayed', claimedSender: 'poller-1' });
  });

  it('counts what it accepted and what it refused, by reason', async () => {
    const body = { op: 'set-clock', offsetMs: 1 };
    await verifier.verify(undefined, 'set-clock', body);
    await verifier.verify(poller.sign('web-4', 'set-clock', body), 'set-clock', body);
    await verifier.verify(poller.sign('web-3', 'set-clock', body), 'set-clock', { ...body, offsetMs: 2 });
    const old = poller.sign('web-3', 'set-clock', body);
    clock += 31_000;
    await verifier.verify(old, 'set-clock', body);
    expect(verifier.counts()).toEqual({ accepted: 1, refused: { replayed: 1, missing: 1, misdirected: 1, forged: 1, stale: 1 } });
    expect(refused.map((r) => r.reason)).toEqual(['replayed', 'missing', 'misdirected', 'forged', 'stale']);
    // A refusal never carries the signature or the body.
    expect(JSON.stringify(refused)).not.toMatch(/sig=|offsetMs/);
  });

  it('does not burn a nonce on a command it refuses for another reason', async () => {
    const before = nonces.seen.size;
    await verifier.verify(poller.sign('web-3', 'set-clock', { a: 1 }), 'set-clock', { a: 2 });
    expect(nonces.seen.size).toBe(before);
  });

  it('answers to its aliases too (a node to its server id), and to nobody else', async () => {
    const node = new CommandVerifier({ receiver: 'node-1', aliases: ['web-1'], keyring: ring, nonces: new MemoryNonces(), now });
    const attendant = new CommandSigner('web-1', ring, now);
    expect(await node.verify(attendant.sign('web-1', 'sync', {}), 'sync', {})).toMatchObject({ ok: true, head: { receiver: 'web-1' } });
    expect(await node.verify(attendant.sign('node-1', 'sync', {}), 'sync', {})).toMatchObject({ ok: true, head: { receiver: 'node-1' } });
    expect(await node.verify(attendant.sign('web-2', 'sync', {}), 'sync', {})).toMatchObject({ ok: false, reason: 'misdirected', message: 'signed as sync for web-2, received as sync by node-1' });
  });

  it('lets trouble through: a nonce cache that cannot answer makes verify throw, not refuse', async () => {
    const down: NonceCache = { claim: () => Promise.reject(new Error('Redis is away')) };
    const v = new CommandVerifier({ receiver: 'web-3', keyring: ring, nonces: down, now });
    await expect(v.verify(poller.sign('web-3', 'set-clock', {}), 'set-clock', {})).rejects.toThrow('Redis is away');
    expect(v.counts()).toEqual({ accepted: 0, refused: {} });
  });
});
