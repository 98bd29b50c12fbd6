import { ConfigError } from '../domain/errors';
import { Keyring, parseKeyFile } from './keyring';

const secret = (fill: number, bytes = 32) => Buffer.alloc(bytes, fill).toString('base64');
const file = (keys: unknown) => JSON.stringify({ keys });

describe('keyring', () => {
  it('reads every key and knows the active one, without showing a secret', () => {
    const ring = parseKeyFile(file([{ id: 'k1', secret: secret(1) }, { id: 'k2', secret: secret(2), active: true }]), 'keys.json');
    expect(ring.active.id).toBe('k2');
    expect(ring.get('k1')?.secret).toEqual(Buffer.alloc(32, 1));
    expect(ring.get('k3')).toBeUndefined();
    expect(ring.describe()).toBe('k1, k2 (active)');
  });

  it('takes base64url secrets too', () => {
    const url = Buffer.alloc(33, 0xfb).toString('base64url');
    expect(url).toMatch(/[-_]/);
    expect(parseKeyFile(file([{ id: 'k1', secret: url, active: true }]), 'f').active.secret).toEqual(Buffer.alloc(33, 0xfb));
  });

  it.each([
    ['not JSON', 'nope', /keys.json is not JSON/],
    ['no keys', file([]), /at least one key/],
    ['no active key', file([{ id: 'k1', secret: secret(1) }]), /keys.json: a keyring needs exactly one active key \(it has 0\)/],
    ['two active keys', file([{ id: 'k1', secret: secret(1), active: true }, { id: 'k2', secret: secret(2), active: true }]), /exactly one active key \(it has 2\)/],
    ['a short secret', file([{ id: 'k1', secret: secret(1, 16), active: true }]), /keys\[0\] \(k1\): secret has 16 bytes; at least 32 are required/],
    ['a secret that is not base64', file([{ id: 'k1', secret: 'not base64!', active: true }]), /secret must be base64/],
    ['an id twice', file([{ id: 'k1', secret: secret(1), active: true }, { id: 'k1', secret: secret(2) }]), /id k1 appears twice/],
    ['a bad id', file([{ id: 'k 1', secret: secret(1), active: true }]), /id must be/],
    ['active that is not a boolean', file([{ id: 'k1', secret: secret(1), active: 'yes' }]), /active must be true or false/],
  ])('refuses %s with a ConfigError naming the file', (_what, text, message) => {
    expect(() => parseKeyFile(text, 'keys.json')).toThrow(ConfigError);
    expect(() => parseKeyFile(text, 'keys.json')).toThrow(message);
  });

  it('never puts a secret into an error', () => {
    const short = Buffer.from('a secret that is far too short').toString('base64');
    expect(() => parseKeyFile(file([{ id: 'k1', secret: short, active: true }]), 'f')).toThrow(expect.objectContaining({ message: expect.not.stringContaining(short) }));
  });

  it('is built with exactly one active key', () => {
    expect(() => new Keyring([])).toThrow('a keyring needs exactly one active key (it has 0)');
  });
});
