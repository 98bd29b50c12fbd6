import fc from 'fast-check';
import { ComponentValues, DEFAULT_WEIGHTS, LOAD_COMPONENTS, LoadComponent, LoadSample, ScoreSettings, componentValues, scoreOf, smooth, stepLoad, weightsProblem } from './load-score';

const settings: ScoreSettings = { weights: { ...DEFAULT_WEIGHTS }, maxProcesses: 1000, dependentDownScore: 70 };
const full: LoadSample = { busyWorkers: 50, maxWorkers: 100, eventLoopUtilization: 0.2, cpuPercent: 40, memoryPercent: 60, processCount: 250, peersReachable: 3, peersConfigured: 4 };

describe('componentValues', () => {
  it('turns each measure into a fraction of its limit: workers 0.5, event loop 0.2, cpu 0.4, memory 0.6, processes 0.25, peers unreachable 0.25', () => {
    expect(componentValues(full, 1000)).toEqual({ workers: 0.5, eventLoop: 0.2, cpu: 0.4, memory: 0.6, processes: 0.25, peers: 0.25 });
  });

  it('clamps measures beyond their limit to 1 and below zero to 0', () => {
    expect(componentValues({ busyWorkers: 130, maxWorkers: 100, cpuPercent: 120, memoryPercent: -3, processCount: 5000 }, 1000)).toEqual({ workers: 1, cpu: 1, memory: 0, processes: 1 });
  });

  it('leaves out what was not measured, a zero maximum of workers, and NaN; no configured peers counts as none unreachable', () => {
    expect(componentValues({ busyWorkers: 3, maxWorkers: 0, cpuPercent: NaN, peersConfigured: 0 }, 1000)).toEqual({ peers: 0 });
    expect(componentValues({}, 1000)).toEqual({});
  });
});

describe('scoreOf', () => {
  it('is the weighted mean of the components in points of 100, with each component and its points shown', () => {
    const load = scoreOf({ workers: 1, cpu: 0.5 }, {}, { ...settings, weights: { ...DEFAULT_WEIGHTS, workers: 3, cpu: 1 } });
    expect(load.score).toBeCloseTo(87.5);
    expect(load.measured).toBeCloseTo(87.5);
    expect(load.components).toEqual([
      { name: 'workers', value: 1, weight: 3, points: 75 },
      { name: 'cpu', value: 0.5, weight: 1, points: 12.5 },
    ]);
    expect(load.forcedBy).toBeUndefined();
  });

  it('forces the worst score, 100, while a mandatory service is down, and keeps the components visible', () => {
    const load = scoreOf({ cpu: 0.1 }, { mandatoryDown: ['radius'] }, settings);
    expect(load).toMatchObject({ score: 100, measured: 10, forcedBy: 'mandatory-down', mandatoryDown: ['radius'] });
    expect(load.components).toHaveLength(1);
  });

  it('lifts the score to the configured floor while a dependent service is down, but never lowers it', () => {
    expect(scoreOf({ cpu: 0.1 }, { dependentDown: ['logging'] }, settings)).toMatchObject({ score: 70, forcedBy: 'dependent-down', dependentDown: ['logging'] });
    expect(scoreOf({ cpu: 0.9 }, { dependentDown: ['logging'] }, settings)).toMatchObject({ score: 90, dependentDown: ['logging'] });
    expect(scoreOf({ cpu: 0.9 }, { dependentDown: ['logging'] }, settings).forcedBy).toBeUndefined();
  });

  it('scores 0 when nothing was measured or every measured component weighs 0', () => {
    expect(scoreOf({}, {}, settings).score).toBe(0);
    expect(scoreOf({ peers: 1 }, {}, { ...settings, weights: { ...DEFAULT_WEIGHTS, peers: 0 } }).score).toBe(0);
  });
});

describe('weightsProblem', () => {
  it('accepts non-negative weights with one above 0, and names the field at fault otherwise', () => {
    expect(weightsProblem({ cpu: 1, memory: 0 })).toBeUndefined();
    expect(weightsProblem({ cpu: -1 })).toEqual({ field: 'weights.cpu', message: 'must be a finite number ≥ 0' });
    expect(weightsProblem({ cpu: Infinity })).toEqual({ field: 'weights.cpu', message: 'must be a finite number ≥ 0' });
    expect(weightsProblem({ cpu: 0, memory: 0 })).toEqual({ field: 'weights', message: 'at least one weight must be above 0' });
    expect(weightsProblem({ disk: 1 })).toMatchObject({ field: 'weights.disk' });
  });
});

describe('smoothing', () => {
  it('takes the first sample as it is, then moves alpha of the way towards each new one', () => {
    expect(smooth(undefined, 40, 0.25)).toBe(40);
    expect(smooth(40, 80, 0.25)).toBe(50);
    expect(smooth(40, 80, 1)).toBe(80);
  });

  it('smooths each component, drops one not measured this time, and moves to the worst at once when a mandatory service goes down', () => {
    const a = stepLoad({}, { cpuPercent: 100, memoryPercent: 0 }, 0.5, settings);
    expect(a.state).toEqual({ cpu: 1, memory: 0 });
    const b = stepLoad(a.state, { cpuPercent: 0 }, 0.5, settings);
    expect(b.state).toEqual({ cpu: 0.5 });
    const c = stepLoad(b.state, { cpuPercent: 0, mandatoryDown: ['radius'] }, 0.5, settings);
    expect(c.load.score).toBe(100);
    expect(c.state).toEqual({ cpu: 0.25 });
  });
});

// Fractions and weights on a grid: fc.double favours the edges and denormals, which says little about load.
const unit = fc.integer({ min: 0, max: 1000 }).map((x) => x / 1000);
const weightsArb = fc.record(Object.fromEntries(LOAD_COMPONENTS.map((c) => [c, fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 100 }).map((x) => x / 10))])) as Record<LoadComponent, fc.Arbitrary<number>>)
  .filter((w) => weightsProblem(w) === undefined);
const valuesArb: fc.Arbitrary<ComponentValues> = fc.record(Object.fromEntries(LOAD_COMPONENTS.map((c) => [c, unit])) as Record<LoadComponent, fc.Arbitrary<number>>, { requiredKeys: [] });

describe('score properties', () => {
  it('property: the score stays within 0..100, equals 100 whenever a mandatory service is down, is at least the floor while a dependent one is, and is the measured mean otherwise', () => {
    const seen = { samples: 0, mandatory: 0, lifted: 0, notLifted: 0, plain: 0 };
    const services = fc.constantFrom('none', 'mandatory', 'dependent', 'dependent');
    fc.assert(
      fc.property(valuesArb, weightsArb, services, fc.integer({ min: 0, max: 100 }), (values, weights, down, floor) => {
        const s = { ...settings, weights, dependentDownScore: floor };
        const load = scoreOf(values, { mandatoryDown: down === 'mandatory' ? ['m'] : [], dependentDown: down === 'dependent' ? ['d'] : [] }, s);
        seen.samples++;
        expect(load.score).toBeGreaterThanOrEqual(0);
        expect(load.score).toBeLessThanOrEqual(100);
        expect(load.score).toBeGreaterThanOrEqual(load.measured);
        if (down === 'mandatory') {
          seen.mandatory++;
          expect(load.score).toBe(100);
        } else if (down === 'dependent') {
          expect(load.score).toBe(Math.max(floor, load.measured));
          if (load.forcedBy === 'dependent-down') seen.lifted++;
          else seen.notLifted++;
        } else {
          seen.plain++;
          expect(load.score).toBe(load.measured);
        }
      }),
      // Each branch is about a quarter of the runs: 1000 keep the 20% floor well clear of chance.
      { numRuns: 1000 },
    );
    for (const branch of ['mandatory', 'lifted', 'notLifted', 'plain'] as const) expect(seen[branch] / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('property: raising one component never lowers the score, and raising a weighed component raises it', () => {
    const seen = { samples: 0, rose: 0 };
    fc.assert(
      fc.property(valuesArb, weightsArb, fc.constantFrom(...LOAD_COMPONENTS), unit, (values, weights, name, more) => {
        const before = values[name] ?? 0;
        const raised = before + (1 - before) * more;
        const higher = { ...values, [name]: raised };
        const s = { ...settings, weights };
        const a = scoreOf({ ...values, [name]: before }, {}, s).score;
        const b = scoreOf(higher, {}, s).score;
        seen.samples++;
        expect(b).toBeGreaterThanOrEqual(a - 1e-9);
        if (raised > before + 1e-6 && weights[name] > 1e-3) {
          seen.rose++;
          expect(b).toBeGreaterThan(a);
        }
      }),
      { numRuns: 500 },
    );
    expect(seen.rose / seen.samples).toBeGreaterThanOrEqual(0.2);
  });

  it('property: scaling every weight by the same factor leaves the score unchanged', () => {
    fc.assert(
      fc.property(valuesArb, weightsArb, fc.integer({ min: 1, max: 10_000 }).map((x) => x / 100), (values, weights, k) => {
        const scaled = Object.fromEntries(LOAD_COMPONENTS.map((c) => [c, weights[c] * k])) as typeof weights;
        expect(scoreOf(values, {}, { ...settings, weights: scaled }).score).toBeCloseTo(scoreOf(values, {}, { ...settings, weights }).score, 6);
      }),
    );
  });

  it('property: a smoothed value lies between the previous value and the sample, and a steady sample is approached geometrically', () => {
    const seen = { samples: 0, moved: 0 };
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100 }), fc.integer({ min: 0, max: 100 }), fc.integer({ min: 1, max: 100 }).map((x) => x / 100), (prev, sample, alpha) => {
        const next = smooth(prev, sample, alpha);
        seen.samples++;
        if (Math.abs(prev - sample) > 1) seen.moved++;
        expect(next).toBeGreaterThanOrEqual(Math.min(prev, sample) - 1e-9);
        expect(next).toBeLessThanOrEqual(Math.max(prev, sample) + 1e-9);
        expect(Math.abs(sample - next)).toBeCloseTo(Math.abs(sample - prev) * (1 - alpha), 6);
      }),
      { numRuns: 300 },
    );
    expect(seen.moved / seen.samples).toBeGreaterThanOrEqual(0.2);
  });
});
