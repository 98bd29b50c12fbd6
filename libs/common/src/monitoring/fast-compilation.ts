import { APP_PATTERN, CHECK_KINDS, DEFICIENCY_KINDS, SERVER_ID_PATTERN, SERVICE_STATUSES } from './compilation';

/**
 * A hand-written check that a parsed value is certainly a valid compilation, for the poller's
 * hot path (class-validator costs about 120 µs per answer). It is at least as strict as
 * `CompilationDto`: when it says yes the DTO says yes (a property test holds it to that); when
 * it says no, the DTO decides and explains.
 */

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const str = (v: unknown, max: number): v is string => typeof v === 'string' && v.length <= max;
/** Like `every`, but a hole in a sparse array counts as a failure. */
function all(a: unknown[], max: number, ok: (v: unknown) => boolean): boolean {
  if (a.length > max) return false;
  for (let i = 0; i < a.length; i++) if (!(i in a) || !ok(a[i])) return false;
  return true;
}
const CHECKS: ReadonlySet<unknown> = new Set(CHECK_KINDS);
const STATUSES: ReadonlySet<unknown> = new Set(SERVICE_STATUSES);
const DEFICIENCIES: ReadonlySet<unknown> = new Set(DEFICIENCY_KINDS);

/** Only the allowed keys, each present unless listed optional. */
function shape(o: Obj, required: readonly string[], optional: readonly string[] = []): boolean {
  let n = 0;
  for (const k in o) {
    if (!Object.prototype.hasOwnProperty.call(o, k)) return false;
    if (required.includes(k)) n++;
    else if (!optional.includes(k)) return false;
  }
  return n === required.length;
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{3}(?:Z|[+-](\d{2}):(\d{2}))$/;

/** ISO-8601 with milliseconds and a zone, every field in range (stricter than the DTO's check). */
export function certainlyIso(v: unknown): boolean {
  if (typeof v !== 'string') return false;
  const m = ISO.exec(v);
  if (!m) return false;
  const [y, mo, d, h, mi, s] = [1, 2, 3, 4, 5, 6].map((i) => Number(m[i]));
  if (mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 || s > 59) return false;
  if (m[7] !== undefined && (Number(m[7]) > 23 || Number(m[8]) > 59)) return false;
  return new Date(Date.UTC(y, mo - 1, d)).getUTCDate() === d && y >= 1000;
}

const apps = (v: unknown): boolean => Array.isArray(v) && all(v, 64, (a) => typeof a === 'string' && APP_PATTERN.test(a));

function service(v: unknown): boolean {
  return isObj(v) && shape(v, ['name', 'kind', 'status', 'detail', 'mandatory', 'applications', 'durationMs'])
    && str(v.name, 128) && CHECKS.has(v.kind) && STATUSES.has(v.status) && str(v.detail, 1000)
    && typeof v.mandatory === 'boolean' && apps(v.applications) && num(v.durationMs) && v.durationMs >= 0;
}

function deficiency(v: unknown): boolean {
  return isObj(v) && shape(v, ['kind', 'applications', 'mandatory', 'detail'], ['service'])
    && DEFICIENCIES.has(v.kind) && (v.service === undefined || str(v.service, 128)) && apps(v.applications)
    && typeof v.mandatory === 'boolean' && str(v.detail, 1000);
}

function probe(v: unknown): boolean {
  if (v === null || v === undefined) return true;
  return isObj(v) && shape(v, ['ok', 'at', 'durationMs', 'detail']) && typeof v.ok === 'boolean' && certainlyIso(v.at)
    && num(v.durationMs) && v.durationMs >= 0 && str(v.detail, 1000);
}

function clock(v: unknown): boolean {
  return isObj(v) && shape(v, ['local', 'epochMs', 'offsetMinutes', 'correctionMs']) && certainlyIso(v.local)
    && num(v.epochMs) && v.epochMs >= 0 && Number.isInteger(v.offsetMinutes) && Math.abs(v.offsetMinutes as number) <= 14 * 60 && num(v.correctionMs);
}

export function certainlyValidCompilation(v: unknown): boolean {
  return isObj(v) && shape(v, ['serverId', 'version', 'clock', 'services', 'probes', 'loggedIn', 'deficiencies', 'compiledInMs'])
    && typeof v.serverId === 'string' && SERVER_ID_PATTERN.test(v.serverId) && v.version === 1 && clock(v.clock)
    && Array.isArray(v.services) && all(v.services, 256, service)
    && isObj(v.probes) && shape(v.probes, [], ['login', 'refresh']) && probe(v.probes.login) && probe(v.probes.refresh)
    && typeof v.loggedIn === 'boolean' && Array.isArray(v.deficiencies) && all(v.deficiencies, 512, deficiency)
    && num(v.compiledInMs) && v.compiledInMs >= 0;
}
