import { parse as parseYaml } from 'yaml';
import { ConfigError } from '../domain/errors';
import { FAILOVER_DEFAULTS, failoverConfigErrors, parseFailoverConfig } from './failover-config';
import { DEFAULT_WEIGHTS } from './load-score';

const minimal = { thresholds: { failover: 85, connection: 70 } };
/** The `field: message` lines of a raw section's problems. */
const problems = (raw: unknown): string[] => failoverConfigErrors(raw).errors.map((e) => `${e.field}: ${e.message}`);

describe('failover config: good', () => {
  it('fills every default around the two thresholds, and names the arrangement they imply', () => {
    expect(parseFailoverConfig(minimal, 'attendant.yaml')).toEqual({
      zones: { thresholds: { failover: 85, connection: 70, reconnection: undefined }, groups: {}, margin: 5, briefMs: 30_000 },
      arrangement: 'hold-middle',
      score: { weights: DEFAULT_WEIGHTS, maxProcesses: 4096, dependentDownScore: 100 },
      smoothing: 0.3,
      deferral: FAILOVER_DEFAULTS.deferral,
      reconnect: { setSize: 5, intervalMs: 2000 },
      backoff: { baseMs: 500, capMs: 30_000 },
      restarts: { max: 3, windowMs: 600_000 },
    });
  });

  it('reads every setting from YAML as the attendant’s file would hold it', () => {
    const yaml = `
thresholds: { failover: 60, connection: 80, reconnection: 50 }
hysteresis: 3
briefMs: 10000
smoothing: 0.5
weights: { workers: 4, cpu: 1, memory: 0 }
maxProcesses: 500
dependentDownScore: 90
deferral: { by: group, groups: [bronze, silver], count: 4 }
reconnect: { setSize: 2, intervalMs: 500 }
backoff: { baseMs: 100, capMs: 5000 }
restarts: { max: 2, windowMs: 60000 }
groups:
  gold: { failover: 45, connection: 40 }
`;
    const c = parseFailoverConfig(parseYaml(yaml), 'attendant.yaml');
    expect(c.arrangement).toBe('brief-middle');
    expect(c.zones).toEqual({ thresholds: { failover: 60, connection: 80, reconnection: 50 }, groups: { gold: { failover: 45, connection: 40 } }, margin: 3, briefMs: 10_000 });
    expect(c.score).toEqual({ weights: { ...DEFAULT_WEIGHTS, workers: 4, cpu: 1, memory: 0 }, maxProcesses: 500, dependentDownScore: 90 });
    expect(c.deferral).toEqual({ strategy: { by: 'group', groups: ['bronze', 'silver'] }, amount: { count: 4 } });
    expect([c.smoothing, c.reconnect, c.backoff, c.restarts]).toEqual([0.5, { setSize: 2, intervalMs: 500 }, { baseMs: 100, capMs: 5000 }, { max: 2, windowMs: 60_000 }]);
  });

  it('reads equal thresholds as two zones, and a deferral list with a fraction', () => {
    const c = parseFailoverConfig({ thresholds: { failover: 70, connection: 70 }, deferral: { by: 'list', list: ['nas-1', 'nas-2'], fraction: 0.5 } }, 'x');
    expect(c.arrangement).toBe('two-zones');
    expect(c.deferral).toEqual({ strategy: { by: 'list', list: ['nas-1', 'nas-2'] }, amount: { fraction: 0.5 } });
  });
});

describe('failover config: bad', () => {
  it('requires the section and both thresholds', () => {
    expect(problems(undefined)).toEqual(['failover: is required: a mapping with at least thresholds']);
    expect(problems([])).toEqual(['failover: must be a mapping']);
    expect(problems({})).toEqual(['failover.thresholds: must give failover and connection thresholds (scores 0-100, 100 the worst)']);
    expect(problems({ thresholds: { failover: 80 } })).toEqual(['failover.thresholds.connection: is required (a score 0-100, 100 the worst)']);
  });

  it('names a threshold out of range, an unknown setting and a misspelt one', () => {
    expect(problems({ thresholds: { failover: 120, connection: 0, reconnection: '50' } })).toEqual([
      'failover.thresholds.failover: must be a number above 0 and at most 100 (got 120)',
      'failover.thresholds.connection: must be a number above 0 and at most 100 (got 0)',
      'failover.thresholds.reconnection: must be a number above 0 and at most 100 (got "50")',
    ]);
    expect(problems({ ...minimal, treshold: 3 })).toEqual([expect.stringMatching(/^failover\.treshold: is not a setting here \(expected one of thresholds, /)]);
  });

  it('refuses negative weights, all-zero weights and a weight of no component', () => {
    expect(problems({ ...minimal, weights: { cpu: -1 } })).toEqual(['failover.weights.cpu: must be a number from 0 to 1000000 (got -1)']);
    expect(problems({ ...minimal, weights: { workers: 0, eventLoop: 0, cpu: 0, memory: 0, processes: 0, peers: 0 } })).toEqual(['failover.weights: at least one weight must be above 0']);
    expect(problems({ ...minimal, weights: { disk: 1 } })).toEqual([expect.stringMatching(/^failover\.weights\.disk: is not a setting here/)]);
  });

  it('names what is wrong with a deferral strategy and its amount', () => {
    expect(problems({ ...minimal, deferral: { by: 'list' } })).toEqual(['failover.deferral.list: must be a non-empty list of ids']);
    expect(problems({ ...minimal, deferral: { by: 'group', groups: ['gold', 'gold'] } })).toEqual(['failover.deferral.groups[1]: gold appears twice']);
    expect(problems({ ...minimal, deferral: { by: 'random' } })).toEqual(['failover.deferral.by: must be list, group or latency']);
    expect(problems({ ...minimal, deferral: { by: 'latency', list: ['a'] } })).toEqual(['failover.deferral.list: is only read with by: list']);
    expect(problems({ ...minimal, deferral: { count: 2, fraction: 0.5 } })).toEqual(['failover.deferral: give count or fraction, not both']);
    expect(problems({ ...minimal, deferral: { fraction: 0 } })).toEqual(['failover.deferral.fraction: must be a number above 0 and at most 1 (got 0)']);
    expect(problems({ ...minimal, deferral: { count: 1.5 } })).toEqual(['failover.deferral.count: must be an integer from 1 to 1000000 (got 1.5)']);
  });

  it('names a bad set size, interval, backoff and restart limit', () => {
    expect(problems({ ...minimal, reconnect: { setSize: 0, intervalMs: 5 }, backoff: { baseMs: 1000, capMs: 10 }, restarts: { max: 0, windowMs: 10 } })).toEqual([
      'failover.reconnect.setSize: must be an integer from 1 to 100000 (got 0)',
      'failover.reconnect.intervalMs: must be an integer from 10 to 86400000 (got 5)',
      'failover.restarts.max: must be an integer from 1 to 1000 (got 0)',
      'failover.restarts.windowMs: must be an integer from 1000 to 604800000 (got 10)',
      'failover.backoff.capMs: must be at least backoff.baseMs (1000)',
    ]);
  });

  it('names a bad group override', () => {
    expect(problems({ ...minimal, groups: { gold: {}, 'a b': { failover: 50 }, silver: { failover: 101, speed: 1 } } })).toEqual([
      'failover.groups.gold: overrides nothing: give failover, connection or reconnection',
      'failover.groups.a b: a group name must be 1-128 [A-Za-z0-9_.:@-]',
      'failover.groups.silver.speed: is not a setting here (expected one of failover, connection, reconnection)',
      'failover.groups.silver.failover: must be a number above 0 and at most 100 (got 101)',
    ]);
  });

  it('refuses a hysteresis margin out of range, or so wide no score could ever return to accept', () => {
    expect(problems({ ...minimal, hysteresis: 60 })).toEqual(['failover.hysteresis: must be a number from 0 to 50 (got 60)']);
    expect(problems({ ...minimal, hysteresis: 10, groups: { tin: { connection: 8 } } })).toEqual([
      'failover.hysteresis: 10 leaves no way back to accept under groups.tin (a score must fall below 8 by more than the margin)',
    ]);
  });

  it('throws one ConfigError naming the file and listing every problem', () => {
    expect(() => parseFailoverConfig({ thresholds: { failover: 0, connection: 70 }, smoothing: 2 }, '/etc/farm/attendant.yaml')).toThrow(ConfigError);
    expect(() => parseFailoverConfig({ thresholds: { failover: 0, connection: 70 }, smoothing: 2 }, '/etc/farm/attendant.yaml')).toThrow(
      'invalid failover settings in /etc/farm/attendant.yaml:\n  failover.thresholds.failover: must be a number above 0 and at most 100 (got 0)\n  failover.smoothing: must be a number above 0 and at most 1 (got 2)',
    );
  });
});
