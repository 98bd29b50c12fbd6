import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { ConfigError } from '../domain/errors';
import { loadAttendantConfig, parseAttendantConfig } from './attendant-config';
import type { AttendantConfig } from './attendant-config.types';

const GOOD_YAML = `
checkTimeoutMs: 2000        # optional, default 2000
answerBudgetMs: 3000
repeaterUrl: http://127.0.0.1:3100
probeApplication: mail
probes:
  login: { enabled: false }
services:
  - name: smtp
    mandatory: true
    applications: [mail]
    check: { kind: tcp, host: 127.0.0.1, port: 25, timeoutMs: 1000 }
  - name: disk
    check: { kind: command, command: /usr/lib/nagios/plugins/check_disk, args: ["-w", "10%", "-c", "5%", "-p", "/"] }
  - name: web
    mandatory: false
    applications: [mail, "webmail:v2"]
    check: { kind: http, url: "https://mail.example/health", expectStatus: [200, 204] }
  - name: imapd
    check: { kind: process, name: dovecot, minCount: 2 }
  - name: cron
    check: { kind: systemd, unit: cron.service }
`;

/** The error a config text raises, for assertions on its message. */
function errorOf(text: string, source = 'attendant.yaml'): ConfigError {
  try {
    parseAttendantConfig(text, source);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseAttendantConfig', () => {
  it('reads where the load comes from and the failover settings, naming every bad field of both', () => {
    const cfg = parseAttendantConfig(JSON.stringify({
      load: { url: 'http://app:9100/metrics', format: 'prometheus', names: { inFlight: 'busy', limit: 'workers', eventLoopUtilization: 'elu' }, peers: ['db:5432'], timeoutMs: 300 },
      failover: { thresholds: { failover: 80, connection: 60 } },
    }), 'a.json');
    expect(cfg.load).toEqual({ server: { url: 'http://app:9100/metrics', format: 'prometheus', names: { inFlight: 'busy', limit: 'workers', eventLoopUtilization: 'elu' } }, peers: ['db:5432'], timeoutMs: 300 });
    expect(cfg.failover).toMatchObject({ arrangement: 'hold-middle', zones: { thresholds: { failover: 80, connection: 60 } } });
    const err = errorOf(JSON.stringify({ load: { peers: ['db'], format: 'xml' }, failover: { thresholds: { failover: 'high' } } }), 'b.json');
    expect(err.message).toMatch(/load\.format: /);
    expect(err.message).toMatch(/load\.peers: each peer must be host:port/);
    expect(err.message).toMatch(/failover\.thresholds\.failover: /);
    expect(errorOf('{"load": {"format": "prometheus"}}', 'c.json').message).toContain('load.url: is required with format prometheus');
  });

  it('parses YAML and applies the defaults', () => {
    const expected: AttendantConfig = {
      checkTimeoutMs: 2000,
      answerBudgetMs: 3000,
      repeaterUrl: 'http://127.0.0.1:3100',
      probeApplication: 'mail',
      probes: { login: { enabled: false, intervalMs: 60_000 }, refresh: { enabled: true, intervalMs: 300_000 } },
      services: [
        { name: 'smtp', mandatory: true, applications: ['mail'], check: { kind: 'tcp', host: '127.0.0.1', port: 25, timeoutMs: 1000 } },
        { name: 'disk', mandatory: true, applications: [], check: { kind: 'command', command: '/usr/lib/nagios/plugins/check_disk', args: ['-w', '10%', '-c', '5%', '-p', '/'] } },
        { name: 'web', mandatory: false, applications: ['mail', 'webmail:v2'], check: { kind: 'http', url: 'https://mail.example/health', expectStatus: [200, 204] } },
        { name: 'imapd', mandatory: true, applications: [], check: { kind: 'process', name: 'dovecot', minCount: 2 } },
        { name: 'cron', mandatory: true, applications: [], check: { kind: 'systemd', unit: 'cron.service' } },
      ],
      // The repeater's own load, read where the repeater is.
      load: { server: { url: 'http://127.0.0.1:3100/v1/health/load', format: 'farm', names: { inFlight: 'farm_http_in_flight', limit: 'farm_http_in_flight_limit', eventLoopUtilization: 'farm_event_loop_utilization' } }, peers: [], timeoutMs: 500 },
    };
    expect(parseAttendantConfig(GOOD_YAML, 'attendant.yaml')).toStrictEqual(expected);
  });

  it('parses JSON, with every default, and allows zero services', () => {
    const cfg = parseAttendantConfig('{"checkTimeoutMs": 1500, "services": []}', '/etc/farm/attendant.json');
    expect(cfg).toStrictEqual({
      services: [],
      checkTimeoutMs: 1500,
      answerBudgetMs: 2000,
      probes: { login: { enabled: true, intervalMs: 60_000 }, refresh: { enabled: true, intervalMs: 300_000 } },
      load: { peers: [], timeoutMs: 500 },
    });
    expect(parseAttendantConfig('{}', 'a.json')).toMatchObject({ services: [], checkTimeoutMs: 2000, answerBudgetMs: 2500 });
  });

  it('returns plain objects, not DTO instances', () => {
    const cfg = parseAttendantConfig(GOOD_YAML, 'attendant.yaml');
    for (const o of [cfg, cfg.probes, cfg.probes.login, cfg.services[0], cfg.services[0].check]) expect(Object.getPrototypeOf(o)).toBe(Object.prototype);
  });

  it('reports every problem at once, naming the file', () => {
    const { message } = errorOf(`
checkTimeoutMs: 0
probes: { login: { intervalMs: 10 } }
services:
  - name: smtp
    applications: [mail, "bad app"]
    check: { kind: tcp, host: 127.0.0.1, port: 70000 }
  - name: web
    check: { kind: http, url: "ftp://x/", port: 80, color: red }
  - name: smtp
    check: { kind: ftp, host: x }
  - name: "bad name!"
    check: { kind: process, name: dovecot, timeoutMs: 5 }
  - name: nocheck
  - name: cmd
    check: { kind: command, command: "" }
`, '/etc/farm/attendant.yaml');
    expect(message).toMatch(/^invalid ATTENDANT_CONFIG \/etc\/farm\/attendant\.yaml:\n/);
    for (const line of [
      'checkTimeoutMs: checkTimeoutMs must not be less than 1',
      'probes.login.intervalMs: intervalMs must not be less than 100',
      'services[0].applications: each application must be 1-128 of [A-Za-z0-9._:-]',
      'services[0].check.port: port must not be greater than 65535',
      'services[1].check.url: url must be an http:// or https:// URL',
      'services[1].check.port: property port is not allowed in a http check',
      'services[1].check.color: property color should not exist',
      'services[2].check.kind: kind must be one of the following values: tcp, http, process, command, systemd',
      'services[2].name: duplicate service name smtp (also services[0])',
      'services[3].name: name must be 1-128 of [A-Za-z0-9._:-]',
      'services[3].check.timeoutMs: property timeoutMs is not allowed in a process check',
      'services[4].check: check must be an object',
      'services[5].check.command: command must be a path (absolute, or relative to the config file) or a bare program name',
    ]) expect(message).toContain(`\n  ${line}`);
    expect(message.split('\n')).toHaveLength(14);
  });

  it('resolves a command given as a relative path against the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'attendant-config-'));
    const file = join(dir, 'a.yaml');
    writeFileSync(file, 'services:\n  - name: a\n    check: { kind: command, command: ../checks/x.sh }\n  - name: b\n    check: { kind: command, command: check_dummy }\n');
    const cfg = loadAttendantConfig(file);
    expect(cfg.services.map((s) => (s.check as { command: string }).command)).toEqual([join(dirname(dir), 'checks', 'x.sh'), 'check_dummy']);
    rmSync(dir, { recursive: true });
  });

  it('refuses unknown fields at the top level and a missing kind-specific field', () => {
    const { message } = errorOf('{"servces": [], "services": [{"name": "a", "check": {"kind": "tcp", "host": "h"}}]}', 'a.json');
    expect(message).toContain('servces: property servces should not exist');
    expect(message).toContain('services[0].check.port: port must be an integer number');
  });

  it('reports syntax errors with the parser message and the file', () => {
    expect(errorOf('services: [', 'a.yaml').message).toMatch(/^cannot parse ATTENDANT_CONFIG a\.yaml: .*line 1/);
    expect(errorOf('{"services": ', 'a.json').message).toMatch(/^cannot parse ATTENDANT_CONFIG a\.json: .*JSON/);
    expect(errorOf('a: 1\na: 2', 'a.yaml').message).toMatch(/unique/);
  });

  it('refuses a file that is not a mapping', () => {
    expect(errorOf('', 'a.yaml').message).toBe('invalid ATTENDANT_CONFIG a.yaml: expected a mapping of settings at the top level');
    expect(errorOf('[]', 'a.json').message).toContain('expected a mapping');
  });
});

describe('loadAttendantConfig', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'attendant-config-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reads YAML and JSON files', () => {
    writeFileSync(join(dir, 'a.yaml'), GOOD_YAML);
    writeFileSync(join(dir, 'a.json'), JSON.stringify({ services: [{ name: 'x', check: { kind: 'tcp', host: 'h', port: 1 } }] }));
    expect(loadAttendantConfig(join(dir, 'a.yaml')).services).toHaveLength(5);
    expect(loadAttendantConfig(join(dir, 'a.json')).services[0]).toEqual({ name: 'x', mandatory: true, applications: [], check: { kind: 'tcp', host: 'h', port: 1 } });
  });

  it('names a missing file', () => {
    const path = join(dir, 'missing.yaml');
    expect(() => loadAttendantConfig(path)).toThrow(new ConfigError(`cannot read ATTENDANT_CONFIG ${path}: ENOENT`));
  });
});

describe('the attendant configs the project ships', () => {
  const root = join(__dirname, '..', '..', '..', '..');
  it.each(['attendant.yaml', 'attendant.docker.yaml'])('config/%s parses, with a capacity service to drain and a failover section', (name) => {
    const cfg = loadAttendantConfig(join(root, 'config', name));
    expect(cfg.services.map((s) => s.name)).toContain('capacity');
    expect(cfg.failover?.zones).toMatchObject({ thresholds: { failover: 80, connection: 60 }, margin: 5 });
    expect(cfg.failover?.reconnect).toEqual({ setSize: 2, intervalMs: 2000 });
  });
});
