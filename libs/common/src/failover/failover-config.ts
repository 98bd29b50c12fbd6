import type { FieldError } from '../contracts/validation';
import { ConfigError } from '../domain/errors';
import type { BackoffSettings } from '../messaging/retry';
import type { DeferralAmount, DeferralSettings, DeferralStrategy } from './deferral';
import { DEFAULT_WEIGHTS, LOAD_COMPONENTS, LoadWeights, ScoreSettings, WORST_SCORE, weightsProblem } from './load-score';
import type { ReconnectSettings } from './reconnection';
import type { RestartLimit } from './restart-limit';
import { Arrangement, ThresholdOverrides, ZoneSettings, arrangementOf, thresholdsFor } from './zones';

/**
 * The `failover` section of the attendant's config, checked field by field: every problem is
 * reported at once, each naming its field (`failover.thresholds.connection: ...`). Defaults fill
 * what is left out, except the two thresholds, which the operator must choose.
 *
 *   failover:
 *     thresholds: { failover: 85, connection: 70, reconnection: 60 }
 *     hysteresis: 5
 *     groups: { gold: { failover: 70, connection: 55 } }
 *     deferral: { by: latency, fraction: 0.5 }
 *     reconnect: { setSize: 5, intervalMs: 2000 }
 */

export interface FailoverConfig {
  zones: ZoneSettings;
  /** Implied by the default thresholds (a group may imply another). */
  arrangement: Arrangement;
  score: ScoreSettings;
  /** Weight of a new sample in the smoothed components (0 < alpha <= 1). */
  smoothing: number;
  deferral: DeferralSettings;
  reconnect: ReconnectSettings;
  backoff: BackoffSettings;
  restarts: RestartLimit;
}

export const FAILOVER_DEFAULTS = {
  hysteresis: 5,
  briefMs: 30_000,
  smoothing: 0.3,
  maxProcesses: 4096,
  dependentDownScore: WORST_SCORE,
  deferral: { strategy: { by: 'latency' }, amount: { fraction: 1 } } as DeferralSettings,
  reconnect: { setSize: 5, intervalMs: 2000 },
  backoff: { baseMs: 500, capMs: 30_000 },
  restarts: { max: 3, windowMs: 600_000 },
} as const;

const ID = /^[A-Za-z0-9_.:@-]{1,128}$/;
const TOP_FIELDS = ['thresholds', 'hysteresis', 'briefMs', 'smoothing', 'weights', 'maxProcesses', 'dependentDownScore', 'deferral', 'reconnect', 'backoff', 'restarts', 'groups'];
const THRESHOLD_FIELDS = ['failover', 'connection', 'reconnection'];

interface NumberRule {
  min: number;
  max: number;
  /** The minimum itself is refused. */
  above?: boolean;
  integer?: boolean;
}

/** Collects problems while reading a raw section; `at` builds the field names. */
class Reader {
  readonly errors: FieldError[] = [];
  constructor(private readonly prefix: string) {}

  fail(path: string, message: string): undefined {
    this.errors.push({ field: path ? `${this.prefix}.${path}` : this.prefix, message });
    return undefined;
  }

  /** A mapping with only the allowed keys (undefined and reported otherwise; absent stays absent). */
  mapping(v: unknown, path: string, allowed?: readonly string[]): Record<string, unknown> | undefined {
    if (v === undefined) return undefined;
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return this.fail(path, 'must be a mapping');
    const m = v as Record<string, unknown>;
    if (allowed) for (const k of Object.keys(m)) if (!allowed.includes(k)) this.fail(path ? `${path}.${k}` : k, `is not a setting here (expected one of ${allowed.join(', ')})`);
    return m;
  }

  number(v: unknown, path: string, rule: NumberRule): number | undefined {
    if (v === undefined) return undefined;
    const ok = typeof v === 'number' && Number.isFinite(v) && (rule.above ? v > rule.min : v >= rule.min) && v <= rule.max && (!rule.integer || Number.isInteger(v));
    if (ok) return v;
    const kind = rule.integer ? 'an integer' : 'a number';
    return this.fail(path, `must be ${kind} ${rule.above ? 'above' : 'from'} ${rule.min} ${rule.above ? 'and at most' : 'to'} ${rule.max} (got ${JSON.stringify(v)})`);
  }

  ids(v: unknown, path: string): string[] | undefined {
    if (!Array.isArray(v) || v.length === 0) return this.fail(path, 'must be a non-empty list of ids');
    const seen = new Set<string>();
    v.forEach((x, i) => {
      if (typeof x !== 'string' || !ID.test(x)) this.fail(`${path}[${i}]`, 'must be an id of 1-128 [A-Za-z0-9_.:@-]');
      else if (seen.has(x)) this.fail(`${path}[${i}]`, `${x} appears twice`);
      else seen.add(x);
    });
    return v as string[];
  }
}

const THRESHOLD: NumberRule = { min: 0, max: WORST_SCORE, above: true };

function readThresholds(r: Reader, v: unknown, path: string, required: boolean): ThresholdOverrides | undefined {
  const m = r.mapping(v, path, THRESHOLD_FIELDS);
  if (!m) return required ? r.fail(path, 'must give failover and connection thresholds (scores 0-100, 100 the worst)') : undefined;
  const out: ThresholdOverrides = {};
  for (const k of THRESHOLD_FIELDS as (keyof ThresholdOverrides)[]) {
    const n = r.number(m[k], `${path}.${k}`, THRESHOLD);
    if (n !== undefined) out[k] = n;
    else if (required && k !== 'reconnection' && m[k] === undefined) r.fail(`${path}.${k}`, 'is required (a score 0-100, 100 the worst)');
  }
  if (!required && Object.keys(m).length === 0) r.fail(path, 'overrides nothing: give failover, connection or reconnection');
  return out;
}

function readDeferral(r: Reader, v: unknown): DeferralSettings {
  const m = r.mapping(v, 'deferral', ['by', 'list', 'groups', 'count', 'fraction']);
  if (!m) return FAILOVER_DEFAULTS.deferral;
  let strategy: DeferralStrategy = { by: 'latency' };
  if (m.by === 'list') strategy = { by: 'list', list: r.ids(m.list, 'deferral.list') ?? [] };
  else if (m.by === 'group') strategy = { by: 'group', groups: r.ids(m.groups, 'deferral.groups') ?? [] };
  else if (m.by !== undefined && m.by !== 'latency') r.fail('deferral.by', 'must be list, group or latency');
  if (m.list !== undefined && m.by !== 'list') r.fail('deferral.list', 'is only read with by: list');
  if (m.groups !== undefined && m.by !== 'group') r.fail('deferral.groups', 'is only read with by: group');
  let amount: DeferralAmount = FAILOVER_DEFAULTS.deferral.amount;
  if (m.count !== undefined && m.fraction !== undefined) r.fail('deferral', 'give count or fraction, not both');
  else if (m.count !== undefined) amount = { count: r.number(m.count, 'deferral.count', { min: 1, max: 1_000_000, integer: true }) ?? 1 };
  else if (m.fraction !== undefined) amount = { fraction: r.number(m.fraction, 'deferral.fraction', { min: 0, max: 1, above: true }) ?? 1 };
  return { strategy, amount };
}

function readWeights(r: Reader, v: unknown): LoadWeights {
  const m = r.mapping(v, 'weights', LOAD_COMPONENTS);
  if (!m) return { ...DEFAULT_WEIGHTS };
  const weights = { ...DEFAULT_WEIGHTS };
  for (const k of LOAD_COMPONENTS) {
    const n = r.number(m[k], `weights.${k}`, { min: 0, max: 1e6 });
    if (n !== undefined) weights[k] = n;
  }
  const problem = weightsProblem(weights);
  if (problem) r.fail(problem.field, problem.message);
  return weights;
}

function readGroups(r: Reader, v: unknown): Record<string, ThresholdOverrides> {
  const m = r.mapping(v, 'groups') ?? {};
  const out: Record<string, ThresholdOverrides> = {};
  for (const [name, g] of Object.entries(m)) {
    if (!ID.test(name)) r.fail(`groups.${name}`, 'a group name must be 1-128 [A-Za-z0-9_.:@-]');
    const t = readThresholds(r, g, `groups.${name}`, false);
    if (t) out[name] = t;
  }
  return out;
}

/** Every problem of a raw `failover` section, each naming its field under `prefix`. */
export function failoverConfigErrors(raw: unknown, prefix = 'failover'): { config?: FailoverConfig; errors: FieldError[] } {
  const r = new Reader(prefix);
  const m = r.mapping(raw, '', TOP_FIELDS);
  if (!m) return { errors: r.errors.length ? r.errors : [{ field: prefix, message: 'is required: a mapping with at least thresholds' }] };
  const t = readThresholds(r, m.thresholds, 'thresholds', true) ?? {};
  const num = (key: string, rule: NumberRule, fallback: number): number => r.number(m[key], key, rule) ?? fallback;
  const d = FAILOVER_DEFAULTS;
  const zones: ZoneSettings = {
    thresholds: { failover: t.failover ?? WORST_SCORE, connection: t.connection ?? WORST_SCORE, reconnection: t.reconnection },
    groups: readGroups(r, m.groups),
    margin: num('hysteresis', { min: 0, max: 50 }, d.hysteresis),
    briefMs: num('briefMs', { min: 1, max: 86_400_000, integer: true }, d.briefMs),
  };
  const reconnect = r.mapping(m.reconnect, 'reconnect', ['setSize', 'intervalMs']) ?? {};
  const backoff = r.mapping(m.backoff, 'backoff', ['baseMs', 'capMs']) ?? {};
  const restarts = r.mapping(m.restarts, 'restarts', ['max', 'windowMs']) ?? {};
  const config: FailoverConfig = {
    zones,
    arrangement: arrangementOf(zones.thresholds),
    score: {
      weights: readWeights(r, m.weights),
      maxProcesses: num('maxProcesses', { min: 1, max: 10_000_000, integer: true }, d.maxProcesses),
      dependentDownScore: num('dependentDownScore', { min: 0, max: WORST_SCORE }, d.dependentDownScore),
    },
    smoothing: num('smoothing', { min: 0, max: 1, above: true }, d.smoothing),
    deferral: readDeferral(r, m.deferral),
    reconnect: {
      setSize: r.number(reconnect.setSize, 'reconnect.setSize', { min: 1, max: 100_000, integer: true }) ?? d.reconnect.setSize,
      intervalMs: r.number(reconnect.intervalMs, 'reconnect.intervalMs', { min: 10, max: 86_400_000, integer: true }) ?? d.reconnect.intervalMs,
    },
    backoff: {
      baseMs: r.number(backoff.baseMs, 'backoff.baseMs', { min: 1, max: 3_600_000, integer: true }) ?? d.backoff.baseMs,
      capMs: r.number(backoff.capMs, 'backoff.capMs', { min: 1, max: 86_400_000, integer: true }) ?? d.backoff.capMs,
    },
    restarts: {
      max: r.number(restarts.max, 'restarts.max', { min: 1, max: 1000, integer: true }) ?? d.restarts.max,
      windowMs: r.number(restarts.windowMs, 'restarts.windowMs', { min: 1000, max: 604_800_000, integer: true }) ?? d.restarts.windowMs,
    },
  };
  for (const [where, group] of [['thresholds', undefined], ...Object.keys(zones.groups).map((g) => [`groups.${g}`, g])]) {
    const lowest = Math.min(...[false, true].flatMap((returning) => Object.values(thresholdsFor(zones, group, returning))));
    if (zones.margin >= lowest) r.fail('hysteresis', `${zones.margin} leaves no way back to accept under ${where} (a score must fall below ${lowest} by more than the margin)`);
  }
  if (config.backoff.capMs < config.backoff.baseMs) r.fail('backoff.capMs', `must be at least backoff.baseMs (${config.backoff.baseMs})`);
  return r.errors.length ? { errors: r.errors } : { config, errors: [] };
}

/** The checked `failover` section, or a ConfigError listing every problem (`source` names the file). */
export function parseFailoverConfig(raw: unknown, source: string): FailoverConfig {
  const { config, errors } = failoverConfigErrors(raw);
  if (!config) throw new ConfigError(`invalid failover settings in ${source}:\n  ${errors.map((e) => `${e.field}: ${e.message}`).join('\n  ')}`);
  return config;
}
