import { ConfigError } from '../domain/errors';
import { listOfFile } from './list-file';

/**
 * The keys our processes sign their commands with (FARM_KEYS_FILE):
 * `{"keys":[{"id":"k1","secret":"<base64, at least 32 bytes>","active":true}]}`. Every key
 * listed is accepted; the one active key signs. A rotation adds the new key everywhere, then
 * makes it active, then drops the old one, and nothing is refused on the way. Pure: parsing
 * and lookup; secrets never appear in an error or in `describe()`.
 */
export interface FarmKey {
  id: string;
  secret: Buffer;
  active: boolean;
}

const KEY_ID = /^[A-Za-z0-9_.-]{1,32}$/;
const BASE64 = /^[A-Za-z0-9+/_-]+={0,2}$/;
export const MIN_SECRET_BYTES = 32;

export class Keyring {
  private readonly byId: ReadonlyMap<string, FarmKey>;
  readonly active: FarmKey;

  constructor(keys: readonly FarmKey[]) {
    const actives = keys.filter((k) => k.active);
    if (actives.length !== 1) throw new ConfigError(`a keyring needs exactly one active key (it has ${actives.length})`);
    this.active = actives[0];
    this.byId = new Map(keys.map((k) => [k.id, k]));
  }

  /** The key with this id, if the ring holds it. */
  get(id: string): FarmKey | undefined {
    return this.byId.get(id);
  }

  /** For logs: the ids and which is active, never a secret. */
  describe(): string {
    return [...this.byId.values()].map((k) => (k.active ? `${k.id} (active)` : k.id)).join(', ');
  }
}

/** A keyring from a key file's text; anything wrong is a ConfigError naming `source` and the key's id. */
export function parseKeyFile(text: string, source: string): Keyring {
  const list = listOfFile(text, source, 'keys', '{"keys":[{"id":...,"secret":"<base64>","active":true}]} with at least one key');
  if (list.length === 0) throw new ConfigError(`${source} must be {"keys":[{"id":...,"secret":"<base64>","active":true}]} with at least one key`);
  const ids = new Set<string>();
  const keys = list.map((raw, i): FarmKey => {
    const where = `${source}: keys[${i}]`;
    if (raw === null || typeof raw !== 'object') throw new ConfigError(`${where} is not an object`);
    const { id, secret, active } = raw as Record<string, unknown>;
    if (typeof id !== 'string' || !KEY_ID.test(id)) throw new ConfigError(`${where}: id must be 1-32 characters of [A-Za-z0-9_.-]`);
    if (ids.has(id)) throw new ConfigError(`${where}: id ${id} appears twice`);
    ids.add(id);
    if (typeof secret !== 'string' || !BASE64.test(secret)) throw new ConfigError(`${where} (${id}): secret must be base64`);
    const bytes = Buffer.from(secret, secret.includes('-') || secret.includes('_') ? 'base64url' : 'base64');
    if (bytes.length < MIN_SECRET_BYTES) throw new ConfigError(`${where} (${id}): secret has ${bytes.length} bytes; at least ${MIN_SECRET_BYTES} are required (openssl rand -base64 32)`);
    if (active !== undefined && typeof active !== 'boolean') throw new ConfigError(`${where} (${id}): active must be true or false`);
    return { id, secret: bytes, active: active === true };
  });
  try {
    return new Keyring(keys);
  } catch (err) {
    throw new ConfigError(`${source}: ${(err as Error).message}`);
  }
}
