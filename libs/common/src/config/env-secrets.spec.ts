import { ConfigError } from '../domain/errors';
import { BaseEnv, loadEnv } from './env';

describe('configuration errors', () => {
  it('name a bad URL variable without showing its password', () => {
    let err: unknown;
    try {
      loadEnv(BaseEnv, { RABBITMQ_URL: 'http://farm:s3cret@broker:5672', REDIS_URL: 'tcp://:hunter2@cache:6379', HTTP_PORT: 'x' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    const message = (err as Error).message;
    expect(message).toContain('RABBITMQ_URL="http://farm:***@broker:5672/"');
    expect(message).toContain('REDIS_URL="tcp://:***@cache:6379"');
    expect(message).not.toContain('s3cret');
    expect(message).not.toContain('hunter2');
  });

  it('show other values as given', () => {
    expect(() => loadEnv(BaseEnv, { RABBITMQ_URL: 'nope' })).toThrow('RABBITMQ_URL="nope"');
  });
});
