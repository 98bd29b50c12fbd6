import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { IsIn, IsInt, IsNotEmpty, IsOptional, IsString, Matches, Max, Min, ValidateIf, validateSync } from 'class-validator';
import { ConfigError } from '../domain/errors';
import { describeUrl } from '../logging/log-text';
import { FarmLogLevel, LOG_FORMATS, LOG_LEVELS, LogFormat } from '../logging/farm-logger';

export const NAMESPACE_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

/** Variables every app reads. */
export class BaseEnv {
  @IsString() @Matches(/^amqps?:\/\//, { message: 'RABBITMQ_URL must be an amqp:// or amqps:// URL' })
  RABBITMQ_URL = 'amqp://guest:guest@127.0.0.1:5672';

  @IsString() @Matches(/^rediss?:\/\//, { message: 'REDIS_URL must be a redis:// or rediss:// URL' })
  REDIS_URL = 'redis://127.0.0.1:6379';

  @IsString() @Matches(NAMESPACE_PATTERN, { message: 'FARM_NAMESPACE must be 1-64 of [A-Za-z0-9._-]' })
  FARM_NAMESPACE = 'farm';

  @IsOptional() @IsInt() @Min(0) @Max(65535)
  HTTP_PORT?: number;

  /** Most HTTP requests served at once; one more is answered 503 with Retry-After at once (probes, scrapes and live feeds are not counted). */
  @IsInt() @Min(1) @Max(1_000_000)
  HTTP_MAX_IN_FLIGHT = 1000;

  /**
   * A notification whose timestamp is further ahead of the receiver's corrected clock than this is
   * refused (400, or dead-lettered): the later timestamp wins, so one would silence every later one.
   */
  @IsInt() @Min(1000) @Max(7 * 24 * 3600 * 1000)
  MAX_FUTURE_MS = 5 * 60 * 1000;

  /**
   * Notifications older than this are refused as stale, and entries that say "available" are
   * dropped once this old (identically on every node), so the state stays bounded over years.
   */
  @IsInt() @Min(60_000)
  RETENTION_MS = 30 * 24 * 3600 * 1000;

  /** `json` (one JSON object per line, for log pipelines) or `pretty` (for people; the local farm). */
  @IsIn(LOG_FORMATS, { message: `FARM_LOG_FORMAT must be one of ${LOG_FORMATS.join(', ')}` })
  FARM_LOG_FORMAT: LogFormat = 'json';

  /** The least severe level written. */
  @IsIn(LOG_LEVELS, { message: `LOG_LEVEL must be one of ${LOG_LEVELS.join(', ')}` })
  LOG_LEVEL: FarmLogLevel = 'info';

  /**
   * `on` (the default): every HTTP state change needs an operator token, and our processes sign
   * the commands they send each other. `off`: an explicit development mode in which nothing is
   * checked; the process says so in a warning at start.
   */
  @IsIn(['on', 'off'], { message: 'FARM_AUTH must be on or off' })
  FARM_AUTH: 'on' | 'off' = 'on';

  /** The operator tokens this process accepts (their SHA-256 only); required unless FARM_AUTH=off. */
  @ValidateIf((e: BaseEnv) => e.FARM_AUTH !== 'off')
  @IsNotEmpty({ message: 'FARM_TOKENS_FILE is required: a JSON file of operator token hashes (farmctl token create prints entries), or set FARM_AUTH=off for development' })
  FARM_TOKENS_FILE?: string;

  /** `true`: routes that only read (the `read` scope) need no token. */
  @IsIn(['true', 'false'], { message: 'FARM_PUBLIC_READS must be true or false' })
  FARM_PUBLIC_READS: 'true' | 'false' = 'false';
}

const KEYS_FILE_MESSAGE = 'FARM_KEYS_FILE is required: the JSON keyring this process signs and checks commands with ({"keys":[{"id","secret","active"}]}), or set FARM_AUTH=off for development';

/** FARM_KEYS_FILE, on the environment of a process that sends or receives signed commands. */
export function KeysFileUnlessAuthOff(): PropertyDecorator {
  return (target, key) => {
    ValidateIf((e: BaseEnv) => e.FARM_AUTH !== 'off')(target, key as string);
    IsNotEmpty({ message: KEYS_FILE_MESSAGE })(target, key as string);
  };
}

const NUMERIC = /^-?\d+$/;

/**
 * Reads and validates the environment once, at boot: a bad value throws a ConfigError naming
 * the variable, and nothing else in the process reads `process.env`.
 */
export function loadEnv<T extends object>(cls: new () => T, env: NodeJS.ProcessEnv = process.env): T {
  const defaults = new cls() as Record<string, unknown>;
  const raw: Record<string, unknown> = {};
  for (const key of Object.keys(defaults).concat(Object.keys(env))) {
    const v = env[key];
    if (v === undefined || v === '') continue;
    const isNumeric = typeof defaults[key] === 'number' || key.endsWith('_MS') || key.endsWith('_PORT') || key.endsWith('_MAX') || key.endsWith('_COUNT') || key === 'PREFETCH';
    raw[key] = isNumeric && NUMERIC.test(v) ? Number(v) : v;
  }
  const cfg = plainToInstance(cls, { ...defaults, ...raw });
  const errors = validateSync(cfg as object, { whitelist: true, forbidUnknownValues: true });
  if (errors.length > 0) {
    const lines = errors.map((e) => `${e.property}=${JSON.stringify(shownValue(e.property, env[e.property]))}: ${Object.values(e.constraints ?? {}).join(', ')}`);
    throw new ConfigError(`invalid configuration:\n  ${lines.join('\n  ')}`);
  }
  return cfg;
}

/** A variable's value as an error may show it: URLs without their password. */
function shownValue(name: string, value: string | undefined): string | null {
  if (value === undefined) return null;
  return name.endsWith('_URL') && /:\/\/[^/]*@/.test(value) ? describeUrl(value) : value;
}
