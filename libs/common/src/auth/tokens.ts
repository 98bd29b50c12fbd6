import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { ConfigError } from '../domain/errors';
import { listOfFile } from './list-file';

/**
 * Operator tokens: what the HTTP APIs accept in `Authorization: Bearer <token>`. Only SHA-256
 * hashes are kept at rest (FARM_TOKENS_FILE); a presented token is hashed and compared with
 * each entry in constant time. Pure: parsing a file's text, identifying and authorising a caller.
 */
export const SCOPES = ['read', 'notify', 'admin'] as const;
export type Scope = (typeof SCOPES)[number];

export interface TokenEntry {
  name: string;
  scopes: Scope[];
  /** Hex SHA-256 of the token. */
  sha256: string;
}

/** The outcome of checking a request's credential against a required scope. */
export type AuthDecision =
  | { ok: true; name: string }
  | { ok: false; status: 401; reason: 'missing-token' | 'unknown-token'; message: string }
  | { ok: false; status: 403; reason: 'missing-scope'; name: string; message: string };

const TOKEN_PREFIX = 'farm_';
/** What a token's name may be. */
export const TOKEN_NAME = /^[A-Za-z0-9_.@-]{1,64}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/;

/** A new random token (256 bits), as `farmctl token create` prints it. */
export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

/** The hex SHA-256 of a token: what the token file holds. */
export function tokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** The file entry for a token. */
export function tokenEntry(name: string, scopes: Scope[], token: string): TokenEntry {
  return { name, scopes: [...new Set(scopes)], sha256: tokenHash(token) };
}

/** `admin` grants every scope; any other scope grants itself only. */
export function grants(scopes: readonly Scope[], required: Scope): boolean {
  return scopes.includes(required) || scopes.includes('admin');
}

/** Scopes from a comma-separated list (`notify,read`), refusing unknown ones. */
export function parseScopes(list: string): Scope[] {
  const scopes = list
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (scopes.length === 0) throw new ConfigError(`no scopes given; choose from ${SCOPES.join(', ')}`);
  for (const s of scopes) if (!(SCOPES as readonly string[]).includes(s)) throw new ConfigError(`unknown scope ${JSON.stringify(s)}; choose from ${SCOPES.join(', ')}`);
  return [...new Set(scopes)] as Scope[];
}

/**
 * The entries of a token file's text: `{"tokens":[{"name","scopes","sha256"}]}`. Anything else
 * is a ConfigError naming `source` and what is wrong (never a token: the file holds none).
 */
export function parseTokenFile(text: string, source: string): TokenEntry[] {
  const list = listOfFile(text, source, 'tokens', '{"tokens":[{"name":...,"scopes":[...],"sha256":...}]}');
  const names = new Set<string>();
  return list.map((raw, i) => {
    const where = `${source}: tokens[${i}]`;
    if (raw === null || typeof raw !== 'object') throw new ConfigError(`${where} is not an object`);
    const { name, scopes, sha256 } = raw as Record<string, unknown>;
    if (typeof name !== 'string' || !TOKEN_NAME.test(name)) throw new ConfigError(`${where}: name must be 1-64 characters of [A-Za-z0-9_.@-]`);
    if (names.has(name)) throw new ConfigError(`${where}: name ${name} appears twice`);
    names.add(name);
    if (!Array.isArray(scopes) || scopes.length === 0 || !scopes.every((s) => (SCOPES as readonly unknown[]).includes(s))) {
      throw new ConfigError(`${where} (${name}): scopes must be a non-empty list of ${SCOPES.join(', ')}`);
    }
    if (typeof sha256 !== 'string' || !HEX_SHA256.test(sha256.toLowerCase())) throw new ConfigError(`${where} (${name}): sha256 must be 64 hex digits (the token's SHA-256, not the token)`);
    return { name, scopes: [...new Set(scopes as Scope[])], sha256: sha256.toLowerCase() };
  });
}

/** The bearer token of an `Authorization` header, or undefined when there is none. */
export function bearerToken(header: string | string[] | undefined): string | undefined {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return undefined;
  const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(value);
  return m ? m[1] : undefined;
}

/**
 * The entry a token belongs to. Every entry is compared, each in constant time, so neither the
 * answer's timing nor the position of the match tells anything about the hashes held.
 */
export function identify(entries: readonly TokenEntry[], token: string): TokenEntry | undefined {
  const presented = createHash('sha256').update(token, 'utf8').digest();
  let found: TokenEntry | undefined;
  for (const e of entries) {
    if (timingSafeEqual(presented, Buffer.from(e.sha256, 'hex')) && !found) found = e;
  }
  return found;
}

/** Whether the caller behind an `Authorization` header may do what needs `required`. */
export function authorize(entries: readonly TokenEntry[], authorization: string | string[] | undefined, required: Scope): AuthDecision {
  const token = bearerToken(authorization);
  if (token === undefined) return { ok: false, status: 401, reason: 'missing-token', message: `an operator token is required: send Authorization: Bearer <token> with the ${required} scope` };
  const entry = identify(entries, token);
  if (!entry) return { ok: false, status: 401, reason: 'unknown-token', message: 'the token is not known here (revoked, mistyped, or from another farm)' };
  if (!grants(entry.scopes, required)) {
    return { ok: false, status: 403, reason: 'missing-scope', name: entry.name, message: `token ${entry.name} has scopes ${entry.scopes.join(', ')}; this needs ${required}` };
  }
  return { ok: true, name: entry.name };
}
