import { ConfigError } from '../domain/errors';

/**
 * The list under `field` of a JSON file's text (`{"<field>": [...]}`), for the token and key
 * files; not JSON, or no such list, is a ConfigError naming `source` and the expected `shape`.
 */
export function listOfFile(text: string, source: string, field: string, shape: string): unknown[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${source} is not JSON (${(err as Error).message})`);
  }
  const list = doc !== null && typeof doc === 'object' ? (doc as Record<string, unknown>)[field] : undefined;
  if (!Array.isArray(list)) throw new ConfigError(`${source} must be ${shape}`);
  return list;
}
