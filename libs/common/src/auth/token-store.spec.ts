import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../domain/errors';
import { waitFor } from '../testing/wait-for';
import { TokenStore } from './token-store';
import { newToken, tokenEntry } from './tokens';

jest.setTimeout(30_000);

describe('TokenStore', () => {
  const dir = mkdtempSync(join(tmpdir(), 'farm-tokens-'));
  const path = join(dir, 'tokens.json');
  const lines: string[] = [];
  const log = { log: (m: string) => void lines.push(`log ${m}`), warn: (m: string) => void lines.push(`warn ${m}`), error: (m: string) => void lines.push(`error ${m}`) };
  const a = newToken();
  const b = newToken();
  const write = (tokens: unknown[], to = path) => writeFileSync(to, JSON.stringify({ tokens }));
  let store: TokenStore | undefined;

  afterEach(() => store?.close());
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses to start without a readable, valid file, and says how to make one', () => {
    expect(() => new TokenStore(join(dir, 'missing.json'), log)).toThrow(ConfigError);
    expect(() => new TokenStore(join(dir, 'missing.json'), log)).toThrow(/missing.json cannot be read \(ENOENT\); create one with farmctl token create/);
    writeFileSync(join(dir, 'bad.json'), '{"tokens": [{}]}');
    expect(() => new TokenStore(join(dir, 'bad.json'), log)).toThrow(/FARM_TOKENS_FILE .*bad.json: tokens\[0\]: name must be/);
  });

  it('reloads when the file is replaced, and on SIGHUP', async () => {
    write([tokenEntry('a', ['read'], a)]);
    store = new TokenStore(path, log);
    store.watch(20);
    expect(store.entries().map((e) => e.name)).toEqual(['a']);
    // Replaced the way editors and config tools do: a new file renamed over the old one.
    write([tokenEntry('a', ['read'], a), tokenEntry('b', ['admin'], b)], `${path}.new`);
    renameSync(`${path}.new`, path);
    await waitFor('b loaded', () => store!.entries().length === 2, 20_000);
    expect(lines.at(-1)).toBe('log operator tokens reloaded (file changed): 2 (a, b)');
    // SIGHUP reloads at once, whether or not the watcher has seen the change yet.
    store.close();
    store.watch(60_000);
    write([tokenEntry('b', ['admin'], b)]);
    process.emit('SIGHUP', 'SIGHUP');
    expect(store.entries().map((e) => e.name)).toEqual(['b']);
  });

  it('keeps the tokens it had when a reload finds the file broken, and logs no hash', async () => {
    write([tokenEntry('a', ['read'], a)]);
    store = new TokenStore(path, log);
    writeFileSync(path, '{"tokens": [');
    expect(store.reload('test')).toBe(false);
    expect(store.entries().map((e) => e.name)).toEqual(['a']);
    expect(lines.at(-1)).toMatch(/^error operator tokens not reloaded \(test\), keeping the 1 loaded before: FARM_TOKENS_FILE .* is not JSON/);
    const hash = tokenEntry('a', ['read'], a).sha256;
    expect(lines.join('\n')).not.toContain(hash);
    expect(lines.join('\n')).not.toContain(a);
  });
});
