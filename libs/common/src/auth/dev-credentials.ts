import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { newToken, tokenEntry } from './tokens';

/** A farm's credentials on disk, as the local farm, the tests and the benchmarks make them. */
export interface DevCredentials {
  /** An operator token with the admin scope (grants every scope). */
  token: string;
  tokenFile: string;
  tokensFile: string;
  keysFile: string;
  /** FARM_TOKENS_FILE and FARM_KEYS_FILE for the processes. */
  env: { FARM_TOKENS_FILE: string; FARM_KEYS_FILE: string };
}

/**
 * Writes (or, when `dir` already holds them, reuses) a token file with one admin token, that
 * token itself in `admin.token` (for farmctl --token-file), and a keyring with one random key;
 * files readable by the owner only. For a local or test farm: production farms make their own
 * with `farmctl token create` and `openssl rand -base64 32`.
 */
export function ensureDevCredentials(dir: string, name = 'local-admin'): DevCredentials {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tokenFile = join(dir, 'admin.token');
  const tokensFile = join(dir, 'tokens.json');
  const keysFile = join(dir, 'keys.json');
  const write = (path: string, text: string) => {
    writeFileSync(path, text, { mode: 0o600 });
    chmodSync(path, 0o600);
  };
  let token = existsSync(tokenFile) && existsSync(tokensFile) ? readFileSync(tokenFile, 'utf8').trim() : '';
  if (!token) {
    token = newToken();
    write(tokenFile, `${token}\n`);
    write(tokensFile, `${JSON.stringify({ tokens: [tokenEntry(name, ['admin'], token)] }, null, 2)}\n`);
  }
  if (!existsSync(keysFile)) write(keysFile, `${JSON.stringify({ keys: [{ id: 'k1', secret: randomBytes(32).toString('base64'), active: true }] }, null, 2)}\n`);
  return { token, tokenFile, tokensFile, keysFile, env: { FARM_TOKENS_FILE: tokensFile, FARM_KEYS_FILE: keysFile } };
}
