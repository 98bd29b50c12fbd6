import { ConfigError } from '../domain/errors';
import { parseApplicationsConfig } from './dependencies';
import { loadEnv } from './env';
import { NotifierEnv } from './notifier.env';
import { RepeaterEnv } from './repeater.env';

describe('loadEnv', () => {
  const files = { FARM_TOKENS_FILE: '/etc/farm/tokens.json', FARM_KEYS_FILE: '/etc/farm/keys.json' };

  it('applies defaults and converts numbers', () => {
    const env = loadEnv(RepeaterEnv, { NODE_ID: 'n1', PREFETCH: '50', SYNC_MODE: 'serial', ...files });
    expect(env).toMatchObject({ NODE_ID: 'n1', PREFETCH: 50, SYNC_MODE: 'serial', HTTP_PORT: 3100, FARM_NAMESPACE: 'farm', RABBITMQ_URL: 'amqp://guest:guest@127.0.0.1:5672', FARM_AUTH: 'on', FARM_PUBLIC_READS: 'false' });
    expect(loadEnv(NotifierEnv, { FARM_TOKENS_FILE: files.FARM_TOKENS_FILE }).HTTP_PORT).toBe(3000);
  });

  it('requires the token file, and a keyring where commands are signed, unless FARM_AUTH=off', () => {
    expect(() => loadEnv(NotifierEnv, {})).toThrow(/^invalid configuration:\n {2}FARM_TOKENS_FILE=null: FARM_TOKENS_FILE is required: a JSON file of operator token hashes \(farmctl token create prints entries\), or set FARM_AUTH=off for development$/);
    expect(() => loadEnv(RepeaterEnv, { NODE_ID: 'n1', FARM_TOKENS_FILE: files.FARM_TOKENS_FILE })).toThrow(/FARM_KEYS_FILE=null: FARM_KEYS_FILE is required/);
    // The notifier signs nothing and receives no signed command: no keyring asked of it.
    expect(loadEnv(NotifierEnv, { FARM_TOKENS_FILE: files.FARM_TOKENS_FILE }).FARM_AUTH).toBe('on');
    const dev = loadEnv(RepeaterEnv, { NODE_ID: 'n1', FARM_AUTH: 'off' });
    expect([dev.FARM_AUTH, dev.FARM_TOKENS_FILE, dev.FARM_KEYS_FILE]).toEqual(['off', undefined, undefined]);
    expect(() => loadEnv(NotifierEnv, { FARM_AUTH: 'maybe', FARM_TOKENS_FILE: files.FARM_TOKENS_FILE })).toThrow(/FARM_AUTH="maybe": FARM_AUTH must be on or off/);
    expect(() => loadEnv(NotifierEnv, { FARM_PUBLIC_READS: 'yes', FARM_TOKENS_FILE: files.FARM_TOKENS_FILE })).toThrow(/FARM_PUBLIC_READS must be true or false/);
  });

  it.each([
    [{}, 'NODE_ID'],
    [{ NODE_ID: 'has space' }, 'NODE_ID'],
    [{ NODE_ID: 'n', HTTP_PORT: 'eighty' }, 'HTTP_PORT'],
    [{ NODE_ID: 'n', RABBITMQ_URL: 'http://x' }, 'RABBITMQ_URL'],
    [{ NODE_ID: 'n', FARM_NAMESPACE: 'a b' }, 'FARM_NAMESPACE'],
    [{ NODE_ID: 'n', SYNC_MODE: 'sometimes' }, 'SYNC_MODE'],
  ])('stops on %j naming %s', (env, name) => {
    expect(() => loadEnv(RepeaterEnv, { ...env, ...files })).toThrow(ConfigError);
    expect(() => loadEnv(RepeaterEnv, { ...env, ...files })).toThrow(new RegExp(`^invalid configuration:\\n {2}${name}=[^\\n]*$`));
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
