import { ConfigError } from '../domain/errors';
import { parseApplicationsConfig } from './dependencies';
import { loadEnv } from './env';
import { NotifierEnv } from './notifier.env';
import { RepeaterEnv } from './repeater.env';

describe('loadEnv', () => {
  it('applies defaults and converts numbers', () => {
    const env = loadEnv(RepeaterEnv, { NODE_ID: 'n1', PREFETCH: '50', SYNC_MODE: 'serial' });
    expect(env).toMatchObject({ NODE_ID: 'n1', PREFETCH: 50, SYNC_MODE: 'serial', HTTP_PORT: 3100, FARM_NAMESPACE: 'farm', RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:5672' });
    expect(loadEnv(NotifierEnv, {}).HTTP_PORT).toBe(3000);
  });

  it.each([
    [{}, 'NODE_ID'],
    [{ NODE_ID: 'has space' }, 'NODE_ID'],
    [{ NODE_ID: 'n', HTTP_PORT: 'eighty' }, 'HTTP_PORT'],
    [{ NODE_ID: 'n', RABBITMQ_URL: 'http://x' }, 'RABBITMQ_URL'],
    [{ NODE_ID: 'n', FARM_NAMESPACE: 'a b' }, 'FARM_NAMESPACE'],
    [{ NODE_ID: 'n', SYNC_MODE: 'sometimes' }, 'SYNC_MODE'],
  ])('stops on %j naming %s', (env, name) => {
    expect(() => loadEnv(RepeaterEnv, env)).toThrow(ConfigError);
    expect(() => loadEnv(RepeaterEnv, env)).toThrow(new RegExp(name));
  });
});

describe('parseApplicationsConfig', () => {
  it('reads YAML and JSON', () => {
    expect(parseApplicationsConfig('applications:\n  mail:\n    dependsOn: [db, smtp]\n  web: {}\n', 'a.yaml')).toEqual({ applications: { mail: { dependsOn: ['db', 'smtp'] }, web: { dependsOn: [] } } });
    expect(parseApplicationsConfig('{"applications":{"x":{"dependsOn":["r"]}}}', 'a.json').applications.x.dependsOn).toEqual(['r']);
  });

  it.each([
    ['applications: [1, 2]', /applications/],
    ['applications:\n  mail:\n    dependsOn: db', /dependsOn/],
    ['applications:\n  "bad name": {}', /bad application name/],
    ['{', /cannot parse/],
  ])('refuses %j', (text, msg) => {
    expect(() => parseApplicationsConfig(text, text === '{' ? 'f.json' : 'f.yaml')).toThrow(msg);
  });
});
