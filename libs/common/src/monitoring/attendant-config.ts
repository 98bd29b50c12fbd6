import 'reflect-metadata';
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, ArrayMinSize, IsArray, IsBoolean, IsIn, IsInt, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength,
  ValidateBy, ValidateIf, ValidateNested, ValidationOptions, buildMessage,
} from 'class-validator';
import { parse as parseYaml } from 'yaml';
import { FieldError, checkDto } from '../contracts/validation';
import { ConfigError } from '../domain/errors';
import { failoverConfigErrors } from '../failover/failover-config';
import type { AttendantConfig, CheckSpec, LoadSources, ProbeSpec } from './attendant-config.types';
import { FARM_LOAD_METRICS } from './load-sample';
import { APP_PATTERN, CHECK_KINDS, CheckKind } from './compilation';

export const SERVICE_NAME_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const DEFAULT_CHECK_TIMEOUT_MS = 2000;
/** Added to the check timeout when `answerBudgetMs` is not given. */
export const DEFAULT_ANSWER_SLACK_MS = 500;
export const DEFAULT_PROBES = { login: { enabled: true, intervalMs: 60_000 }, refresh: { enabled: true, intervalMs: 300_000 } } as const;

const MAX_TIMEOUT_MS = 600_000;
const MIN_INTERVAL_MS = 100;
const MAX_INTERVAL_MS = 86_400_000;

/** The fields each check kind takes; any other known field on a check is refused. */
export const CHECK_FIELDS: Record<CheckKind, readonly string[]> = {
  tcp: ['kind', 'host', 'port', 'timeoutMs'],
  http: ['kind', 'url', 'expectStatus', 'timeoutMs'],
  process: ['kind', 'name', 'minCount'],
  command: ['kind', 'command', 'args', 'timeoutMs'],
  systemd: ['kind', 'unit', 'timeoutMs'],
};

function isHttpUrl(value: unknown): boolean {
  if (typeof value !== 'string') return false;
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
}

function IsHttpUrl(options?: ValidationOptions): PropertyDecorator {
  return ValidateBy(
    { name: 'isHttpUrl', validator: { validate: isHttpUrl, defaultMessage: buildMessage((each) => `${each}$property must be an http:// or https:// URL`, options) } },
    options,
  );
}

/** Validates a required kind-specific field only on checks of that kind. */
const forKind = (kind: CheckKind) => ValidateIf((o: CheckSpecDto) => o.kind === kind);

/** Every field of every kind; `CHECK_FIELDS` says which belong to which kind. */
export class CheckSpecDto {
  @IsIn(CHECK_KINDS) kind!: CheckKind;

  @forKind('tcp') @IsString() @MinLength(1) @MaxLength(253) host?: string;
  @forKind('tcp') @IsInt() @Min(1) @Max(65535) port?: number;

  @forKind('http') @IsHttpUrl() url?: string;
  @IsOptional() @IsArray() @ArrayMinSize(1) @ArrayMaxSize(64) @IsInt({ each: true }) @Min(100, { each: true }) @Max(599, { each: true })
  expectStatus?: number[];

  @forKind('process') @Matches(/^[^/\0]{1,255}$/, { message: 'name must be a process name: 1-255 characters, no "/"' })
  name?: string;
  @IsOptional() @IsInt() @Min(1) @Max(100_000) minCount?: number;

  @forKind('command') @Matches(/^[^\0]+$/, { message: 'command must be a path (absolute, or relative to the config file) or a bare program name' })
  command?: string;
  @IsOptional() @IsArray() @ArrayMaxSize(256) @IsString({ each: true }) args?: string[];

  @forKind('systemd') @Matches(/^[A-Za-z0-9@_:.\\-]{1,256}$/, { message: 'unit must be a systemd unit name' })
  unit?: string;

  @IsOptional() @IsInt() @Min(1) @Max(MAX_TIMEOUT_MS) timeoutMs?: number;
}

export class RestartSpecDto {
  @Matches(/^[^\0]+$/, { message: 'command must be a path (absolute, or relative to the config file) or a bare program name' }) command!: string;
  @IsOptional() @IsArray() @ArrayMaxSize(256) @IsString({ each: true }) args?: string[];
  @IsOptional() @IsInt() @Min(1) @Max(MAX_TIMEOUT_MS) timeoutMs?: number;
}

export class ServiceSpecDto {
  @Matches(SERVICE_NAME_PATTERN, { message: 'name must be 1-128 of [A-Za-z0-9._:-]' }) name!: string;
  @IsOptional() @IsBoolean() mandatory?: boolean;
  @IsOptional() @IsArray() @ArrayMaxSize(64) @Matches(APP_PATTERN, { each: true, message: 'each application must be 1-128 of [A-Za-z0-9._:-]' })
  applications?: string[];
  @IsObject() @ValidateNested() @Type(() => CheckSpecDto) check!: CheckSpecDto;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => RestartSpecDto) restart?: RestartSpecDto;
}

export class ProbeSpecDto {
  @IsOptional() @IsBoolean() enabled?: boolean;
  @IsOptional() @IsInt() @Min(MIN_INTERVAL_MS) @Max(MAX_INTERVAL_MS) intervalMs?: number;
}

export class ProbesSpecDto {
  @IsOptional() @IsObject() @ValidateNested() @Type(() => ProbeSpecDto) login?: ProbeSpecDto;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => ProbeSpecDto) refresh?: ProbeSpecDto;
}

export class LoadMetricNamesDto {
  @Matches(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$/, { message: 'inFlight must be a Prometheus metric name' }) inFlight!: string;
  @Matches(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$/, { message: 'limit must be a Prometheus metric name' }) limit!: string;
  @Matches(/^[a-zA-Z_:][a-zA-Z0-9_:]{0,199}$/, { message: 'eventLoopUtilization must be a Prometheus metric name' }) eventLoopUtilization!: string;
}

export class LoadSourcesDto {
  @IsOptional() @IsHttpUrl() url?: string;
  @IsOptional() @IsIn(['farm', 'prometheus']) format?: 'farm' | 'prometheus';
  @IsOptional() @IsObject() @ValidateNested() @Type(() => LoadMetricNamesDto) names?: LoadMetricNamesDto;
  @IsOptional() @IsArray() @ArrayMaxSize(64) @Matches(/^[A-Za-z0-9.-]{1,253}:\d{1,5}$/, { each: true, message: 'each peer must be host:port' }) peers?: string[];
  @IsOptional() @IsInt() @Min(1) @Max(MAX_TIMEOUT_MS) timeoutMs?: number;
  @IsOptional() @IsInt() @Min(0) @Max(MAX_INTERVAL_MS) servicesEveryMs?: number;
}

/** The attendant's config file as written; `parseAttendantConfig` applies the defaults. */
export class AttendantConfigDto {
  @IsOptional() @IsInt() @Min(1) @Max(MAX_TIMEOUT_MS) checkTimeoutMs?: number;
  @IsOptional() @IsInt() @Min(1) @Max(MAX_TIMEOUT_MS) answerBudgetMs?: number;
  @IsOptional() @IsHttpUrl() repeaterUrl?: string;
  @IsOptional() @Matches(APP_PATTERN, { message: 'probeApplication must be 1-128 of [A-Za-z0-9._:-]' }) probeApplication?: string;
  @IsOptional() @IsObject() @ValidateNested() @Type(() => ProbesSpecDto) probes?: ProbesSpecDto;
  @IsOptional() @IsArray() @ArrayMaxSize(256) @ValidateNested({ each: true }) @Type(() => ServiceSpecDto) services?: ServiceSpecDto[];
  @IsOptional() @IsObject() @ValidateNested() @Type(() => LoadSourcesDto) load?: LoadSourcesDto;
  /** Checked by failoverConfigErrors (its own reader names each field). */
  @IsOptional() @IsObject() failover?: Record<string, unknown>;
}

/** Default read timeout of the server's load and of each peer. */
export const DEFAULT_LOAD_TIMEOUT_MS = 500;

function loadSources(dto: AttendantConfigDto): LoadSources {
  const l = dto.load;
  const format = l?.format ?? 'farm';
  const url = l?.url ?? (dto.repeaterUrl && format === 'farm' ? `${dto.repeaterUrl.replace(/\/+$/, '')}/v1/health/load` : undefined);
  return {
    ...(url ? { server: { url, format, names: l?.names ? { ...l.names } : { ...FARM_LOAD_METRICS } } } : {}),
    peers: [...(l?.peers ?? [])],
    timeoutMs: l?.timeoutMs ?? DEFAULT_LOAD_TIMEOUT_MS,
    ...(l?.servicesEveryMs ? { servicesEveryMs: l.servicesEveryMs } : {}),
  };
}

const isRecord = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const KNOWN_CHECK_FIELDS = new Set(Object.values(CHECK_FIELDS).flat());

/** What the DTO cannot say: fields of another kind on a check, and duplicate service names. */
function crossFieldErrors(raw: Record<string, unknown>): FieldError[] {
  if (!Array.isArray(raw.services)) return [];
  const errors: FieldError[] = [];
  const seen = new Map<string, number>();
  raw.services.forEach((service: unknown, i) => {
    if (!isRecord(service)) return;
    if (typeof service.name === 'string') {
      const first = seen.get(service.name);
      if (first === undefined) seen.set(service.name, i);
      else errors.push({ field: `services.${i}.name`, message: `duplicate service name ${service.name} (also services[${first}])` });
    }
    const check = service.check;
    if (!isRecord(check) || !(CHECK_KINDS as readonly unknown[]).includes(check.kind)) return;
    const kind = check.kind as CheckKind;
    for (const key of Object.keys(check)) {
      // Fields no kind knows are already refused by the DTO's whitelist.
      if (KNOWN_CHECK_FIELDS.has(key) && !CHECK_FIELDS[kind].includes(key)) {
        errors.push({ field: `services.${i}.check.${key}`, message: `property ${key} is not allowed in a ${kind} check` });
      }
    }
  });
  return errors;
}

/** `services.1.check.port` -> `services[1].check.port` */
const fieldPath = (field: string): string => field.replace(/\.(\d+)(?=\.|$)/g, '[$1]');

/** Drops absent optional fields so the result holds only what was given. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined && v !== null)) as T;
}

function toCheckSpec(c: CheckSpecDto): CheckSpec {
  const copy = <T>(a: T[] | undefined) => (a ? [...a] : undefined);
  switch (c.kind) {
    case 'tcp': return defined({ kind: c.kind, host: c.host as string, port: c.port as number, timeoutMs: c.timeoutMs });
    case 'http': return defined({ kind: c.kind, url: c.url as string, expectStatus: copy(c.expectStatus), timeoutMs: c.timeoutMs });
    case 'process': return defined({ kind: c.kind, name: c.name as string, minCount: c.minCount });
    case 'command': return defined({ kind: c.kind, command: c.command as string, args: copy(c.args), timeoutMs: c.timeoutMs });
    case 'systemd': return defined({ kind: c.kind, unit: c.unit as string, timeoutMs: c.timeoutMs });
  }
}

const probe = (p: ProbeSpecDto | undefined, d: ProbeSpec): ProbeSpec => ({ enabled: p?.enabled ?? d.enabled, intervalMs: p?.intervalMs ?? d.intervalMs });

function toConfig(dto: AttendantConfigDto): AttendantConfig {
  const checkTimeoutMs = dto.checkTimeoutMs ?? DEFAULT_CHECK_TIMEOUT_MS;
  const config: AttendantConfig = {
    services: (dto.services ?? []).map((s) => ({
      name: s.name, check: toCheckSpec(s.check), applications: [...(s.applications ?? [])], mandatory: s.mandatory ?? true,
      ...(s.restart ? { restart: defined({ command: s.restart.command, args: s.restart.args ? [...s.restart.args] : undefined, timeoutMs: s.restart.timeoutMs }) } : {}),
    })),
    checkTimeoutMs,
    answerBudgetMs: dto.answerBudgetMs ?? checkTimeoutMs + DEFAULT_ANSWER_SLACK_MS,
    probes: { login: probe(dto.probes?.login, DEFAULT_PROBES.login), refresh: probe(dto.probes?.refresh, DEFAULT_PROBES.refresh) },
  };
  config.load = loadSources(dto);
  if (dto.repeaterUrl != null) config.repeaterUrl = dto.repeaterUrl;
  if (dto.probeApplication != null) config.probeApplication = dto.probeApplication;
  return config;
}

/**
 * Parses and validates the text of an attendant config file (`source` names it in errors; a
 * `.json` source is read as JSON, anything else as YAML) and applies the defaults. Every
 * problem is reported at once in one ConfigError.
 */
export function parseAttendantConfig(text: string, source: string): AttendantConfig {
  let raw: unknown;
  try {
    raw = source.toLowerCase().endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`cannot parse ATTENDANT_CONFIG ${source}: ${(err as Error).message}`);
  }
  if (!isRecord(raw)) throw new ConfigError(`invalid ATTENDANT_CONFIG ${source}: expected a mapping of settings at the top level`);
  const checked = checkDto(AttendantConfigDto, raw);
  const failover = raw.failover === undefined ? undefined : failoverConfigErrors(raw.failover);
  const load = isRecord(raw.load) ? raw.load : undefined;
  const loadErrors: FieldError[] = load?.format === 'prometheus' && load.url === undefined ? [{ field: 'load.url', message: 'is required with format prometheus' }] : [];
  const all = [...(checked.errors ?? []), ...crossFieldErrors(raw), ...(failover?.errors ?? []), ...loadErrors].map((e) => ({ field: fieldPath(e.field), message: e.message }));
  // class-validator adds "nested property X must be either object or array" next to @IsObject's own message.
  const errors = all
    .filter((e) => !e.message.startsWith('nested property') || !all.some((o) => o.field === e.field && o !== e))
    .sort((a, b) => a.field.localeCompare(b.field, 'en', { numeric: true }));
  if (errors.length > 0 || !checked.value) {
    throw new ConfigError(`invalid ATTENDANT_CONFIG ${source}:\n  ${errors.map((e) => `${e.field || '(top level)'}: ${e.message}`).join('\n  ')}`);
  }
  const config = toConfig(checked.value);
  if (failover?.config) config.failover = failover.config;
  return config;
}

/** Reads, parses and validates the attendant config file; throws ConfigError. */
export function loadAttendantConfig(path: string): AttendantConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ATTENDANT_CONFIG ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const config = parseAttendantConfig(text, path);
  // A command given as a relative path is relative to the file that names it; bare names go through PATH.
  for (const s of config.services) {
    if (s.check.kind === 'command' && s.check.command.includes('/') && !isAbsolute(s.check.command)) s.check.command = resolve(dirname(path), s.check.command);
    if (s.restart && s.restart.command.includes('/') && !isAbsolute(s.restart.command)) s.restart.command = resolve(dirname(path), s.restart.command);
  }
  return config;
}
