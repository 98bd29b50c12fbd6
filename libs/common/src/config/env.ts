import 'reflect-metadata';
import { plainToInstance } from 'class-transformer';
import { IsIn, IsInt, IsOptional, IsString, Matches, Max, Min, validateSync } from 'class-validator';
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
