/**
 * A server's load as one score from 0 (idle) to 100 (the worst: a mandatory service is down, or
 * every measured component is at its limit). Each component is a fraction from 0 to 1 of its own
 * limit; the score is their weighted mean, so it reads as "percent of the way to saturation".
 * Services are not weighed: a mandatory service down forces the worst score, a dependent one down
 * lifts the score to at least a configured floor. Pure: the attendant measures, this decides.
 */

export const LOAD_COMPONENTS = ['workers', 'eventLoop', 'cpu', 'memory', 'processes', 'peers'] as const;
export type LoadComponent = (typeof LOAD_COMPONENTS)[number];
export type LoadWeights = Record<LoadComponent, number>;

export const WORST_SCORE = 100;

export const DEFAULT_WEIGHTS: Readonly<LoadWeights> = { workers: 3, eventLoop: 2, cpu: 2, memory: 1, processes: 1, peers: 1 };

/** One sample as the attendant measured it; any measure it could not take is left out. */
export interface LoadSample {
  /** The monitored application's busy and maximum workers (the repeater: in-flight requests and its limit). */
  busyWorkers?: number;
  maxWorkers?: number;
  /** Event-loop utilisation of the monitored application, 0..1. */
  eventLoopUtilization?: number;
  cpuPercent?: number;
  memoryPercent?: number;
  processCount?: number;
  /** How many of the configured peers answered, and how many are configured. */
  peersReachable?: number;
  peersConfigured?: number;
  /** Names of the services found down, as the checks report them. */
  mandatoryDown?: readonly string[];
  dependentDown?: readonly string[];
}

export interface ScoreSettings {
  weights: LoadWeights;
  /** The process count that counts as saturation. */
  maxProcesses: number;
  /** Least score while a dependent service is down (0: only reported; 100: as bad as a mandatory one). */
  dependentDownScore: number;
}

export interface ComponentScore {
  name: LoadComponent;
  /** Fraction of its limit, 0..1. */
  value: number;
  weight: number;
  /** Points of the score this component accounts for (before services are applied). */
  points: number;
}

export interface LoadScore {
  /** 0 (idle) .. 100 (worst). */
  score: number;
  /** The weighted mean of the components alone. */
  measured: number;
  components: ComponentScore[];
  mandatoryDown: string[];
  dependentDown: string[];
  /** Why the score is what it is beyond the components, if it is. */
  forcedBy?: 'mandatory-down' | 'dependent-down';
}

export type ComponentValues = Partial<Record<LoadComponent, number>>;

const clamp01 = (x: number): number => (x <= 0 ? 0 : x >= 1 ? 1 : x);
const finite = (x: number | undefined): x is number => typeof x === 'number' && Number.isFinite(x);

function ratio(part: number | undefined, whole: number | undefined): number | undefined {
  if (!finite(part) || !finite(whole) || whole <= 0) return undefined;
  return clamp01(part / whole);
}

/** Each measured component as a fraction of its limit; what was not measured is absent. */
export function componentValues(sample: LoadSample, maxProcesses: number): ComponentValues {
  const out: ComponentValues = {};
  const set = (name: LoadComponent, v: number | undefined): void => {
    if (finite(v)) out[name] = clamp01(v);
  };
  set('workers', ratio(sample.busyWorkers, sample.maxWorkers));
  set('eventLoop', sample.eventLoopUtilization);
  set('cpu', finite(sample.cpuPercent) ? sample.cpuPercent / 100 : undefined);
  set('memory', finite(sample.memoryPercent) ? sample.memoryPercent / 100 : undefined);
  set('processes', ratio(sample.processCount, maxProcesses));
  if (finite(sample.peersConfigured) && sample.peersConfigured > 0 && finite(sample.peersReachable)) {
    set('peers', 1 - clamp01(sample.peersReachable / sample.peersConfigured));
  } else if (sample.peersConfigured === 0) {
    set('peers', 0);
  }
  return out;
}

/** Why a set of weights cannot be used, naming the field at fault; undefined when it can. */
export function weightsProblem(weights: Partial<Record<string, unknown>>): { field: string; message: string } | undefined {
  for (const name of Object.keys(weights)) {
    if (!(LOAD_COMPONENTS as readonly string[]).includes(name)) return { field: `weights.${name}`, message: `is not a component (one of ${LOAD_COMPONENTS.join(', ')})` };
  }
  let total = 0;
  for (const name of LOAD_COMPONENTS) {
    const w = weights[name];
    if (w === undefined) continue;
    if (typeof w !== 'number' || !Number.isFinite(w) || w < 0) return { field: `weights.${name}`, message: 'must be a finite number ≥ 0' };
    total += w;
  }
  return total > 0 ? undefined : { field: 'weights', message: 'at least one weight must be above 0' };
}

/**
 * The score of (smoothed) component values and the services' state. Only measured components
 * count: the weights of the others are left out of the mean, so a missing measure neither helps
 * nor hurts. With nothing measured, the components say 0.
 */
export function scoreOf(values: ComponentValues, services: Pick<LoadSample, 'mandatoryDown' | 'dependentDown'>, settings: ScoreSettings): LoadScore {
  let totalWeight = 0;
  for (const name of LOAD_COMPONENTS) if (values[name] !== undefined) totalWeight += settings.weights[name];
  const components: ComponentScore[] = [];
  let measured = 0;
  for (const name of LOAD_COMPONENTS) {
    const value = values[name];
    if (value === undefined) continue;
    const weight = settings.weights[name];
    const points = totalWeight > 0 ? (WORST_SCORE * weight * value) / totalWeight : 0;
    measured += points;
    components.push({ name, value, weight, points });
  }
  measured = Math.min(WORST_SCORE, measured);
  const mandatoryDown = [...(services.mandatoryDown ?? [])];
  const dependentDown = [...(services.dependentDown ?? [])];
  const result: LoadScore = { score: measured, measured, components, mandatoryDown, dependentDown };
  if (mandatoryDown.length > 0) return { ...result, score: WORST_SCORE, forcedBy: 'mandatory-down' };
  if (dependentDown.length > 0 && settings.dependentDownScore > measured) return { ...result, score: settings.dependentDownScore, forcedBy: 'dependent-down' };
  return result;
}

/** Exponential smoothing: `alpha` of the new sample, the rest from before (the first sample stands alone). */
export function smooth(prev: number | undefined, sample: number, alpha: number): number {
  return prev === undefined ? sample : prev + alpha * (sample - prev);
}

/**
 * One step of the load measure: the components are smoothed one by one (a component missing from
 * this sample drops out until it is measured again), the services are taken as they are now, so a
 * mandatory service down moves the score to the worst at once. Returns the state for the next step
 * and the score to publish.
 */
export function stepLoad(prev: ComponentValues, sample: LoadSample, alpha: number, settings: ScoreSettings): { state: ComponentValues; load: LoadScore } {
  const now = componentValues(sample, settings.maxProcesses);
  const state: ComponentValues = {};
  for (const name of LOAD_COMPONENTS) {
    const v = now[name];
    if (v !== undefined) state[name] = smooth(prev[name], v, alpha);
  }
  return { state, load: scoreOf(state, sample, settings) };
}
