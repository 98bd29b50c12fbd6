import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsISO8601, IsNumber, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested,
} from 'class-validator';
import { MAX_SET_CLOCK_MS } from './clock';

/**
 * The attendant's one answer: everything about its server, compiled at query time. The poller
 * validates every answer against `CompilationDto`; one that does not validate is a `bad-reply`.
 */

/** Nagios plugin convention: 0 ok, 1 warning, 2 critical, 3 unknown. */
export const SERVICE_STATUSES = ['ok', 'warning', 'critical', 'unknown'] as const;
export type ServiceStatus = (typeof SERVICE_STATUSES)[number];

export const CHECK_KINDS = ['tcp', 'http', 'process', 'command', 'systemd'] as const;
export type CheckKind = (typeof CHECK_KINDS)[number];

/**
 * Kinds of deficiency. The attendant reports the service and probe kinds; the poller adds
 * `unresponsive`, `bad-reply` and `clock-drift` from what it sees of the answer.
 */
export const DEFICIENCY_KINDS = [
  'unresponsive', 'bad-reply', 'service-critical', 'service-warning', 'service-unknown', 'login-probe', 'refresh-probe', 'clock-drift',
] as const;
export type DeficiencyKind = (typeof DEFICIENCY_KINDS)[number];

export const SERVER_ID_PATTERN = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;
export const APP_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;

export interface Deficiency {
  kind: DeficiencyKind;
  /** The failing service (or probe), when there is one. */
  service?: string;
  /** Applications it affects (mandatory services only raise availability notifications). */
  applications: string[];
  mandatory: boolean;
  detail: string;
}

export interface ServiceReport {
  name: string;
  kind: CheckKind;
  status: ServiceStatus;
  /** First line of the check's output, or what went wrong. */
  detail: string;
  mandatory: boolean;
  applications: string[];
  durationMs: number;
}

export interface ProbeReport {
  ok: boolean;
  /** When the probe ran (attendant clock, ISO with zone offset). */
  at: string;
  durationMs: number;
  detail: string;
}

export interface ClockReading {
  /** Local time with the zone offset, e.g. 2026-11-24T11:00:00.000+01:00. */
  local: string;
  /** Milliseconds since the epoch by this server's clock (system clock + correction). */
  epochMs: number;
  /** Zone offset in minutes east of UTC. */
  offsetMinutes: number;
  /** The correction currently added to the system clock. */
  correctionMs: number;
}

export interface Compilation {
  serverId: string;
  /** Attendant protocol version. */
  version: 1;
  clock: ClockReading;
  services: ServiceReport[];
  probes: { login: ProbeReport | null; refresh: ProbeReport | null };
  loggedIn: boolean;
  deficiencies: Deficiency[];
  /** How long the attendant took to compile this answer. */
  compiledInMs: number;
}

/** Requests the attendant's queue accepts. */
export type AttendantRequest = { op: 'query' } | { op: 'set-clock'; adjustMs: number; by?: string };

export interface SetClockReply {
  ok: true;
  serverId: string;
  correctionMs: number;
  /** True when the attendant cut the correction to its CLOCK_MAX_CORRECTION_MS. */
  clamped?: boolean;
  clock: ClockReading;
}

// ---- DTOs the poller validates answers against --------------------------------------------

export class DeficiencyDto implements Deficiency {
  @IsIn(DEFICIENCY_KINDS) kind!: DeficiencyKind;
  @IsOptional() @IsString() @MaxLength(128) service?: string;
  @IsArray() @ArrayMaxSize(64) @Matches(APP_PATTERN, { each: true }) applications!: string[];
  @IsBoolean() mandatory!: boolean;
  @IsString() @MaxLength(1000) detail!: string;
}

export class ServiceReportDto implements ServiceReport {
  @IsString() @MaxLength(128) name!: string;
  @IsIn(CHECK_KINDS) kind!: CheckKind;
  @IsIn(SERVICE_STATUSES) status!: ServiceStatus;
  @IsString() @MaxLength(1000) detail!: string;
  @IsBoolean() mandatory!: boolean;
  @IsArray() @ArrayMaxSize(64) @Matches(APP_PATTERN, { each: true }) applications!: string[];
  @IsNumber() @Min(0) durationMs!: number;
}

export class ProbeReportDto implements ProbeReport {
  @IsBoolean() ok!: boolean;
  @IsISO8601({ strict: true }) at!: string;
  @IsNumber() @Min(0) durationMs!: number;
  @IsString() @MaxLength(1000) detail!: string;
}

export class ProbesDto {
  @IsOptional() @ValidateNested() @Type(() => ProbeReportDto) login!: ProbeReportDto | null;
  @IsOptional() @ValidateNested() @Type(() => ProbeReportDto) refresh!: ProbeReportDto | null;
}

export class ClockReadingDto implements ClockReading {
  @IsISO8601({ strict: true }) local!: string;
  @IsNumber() @Min(0) epochMs!: number;
  @IsInt() @Min(-14 * 60) @Max(14 * 60) offsetMinutes!: number;
  @IsNumber() correctionMs!: number;
}

export class CompilationDto implements Compilation {
  @IsString() @Matches(SERVER_ID_PATTERN) serverId!: string;
  @IsIn([1]) version!: 1;
  @IsObject() @ValidateNested() @Type(() => ClockReadingDto) clock!: ClockReadingDto;
  @IsArray() @ArrayMaxSize(256) @ValidateNested({ each: true }) @Type(() => ServiceReportDto) services!: ServiceReportDto[];
  @IsObject() @ValidateNested() @Type(() => ProbesDto) probes!: ProbesDto;
  @IsBoolean() loggedIn!: boolean;
  @IsArray() @ArrayMaxSize(512) @ValidateNested({ each: true }) @Type(() => DeficiencyDto) deficiencies!: DeficiencyDto[];
  @IsNumber() @Min(0) compiledInMs!: number;
}

export class SetClockReplyDto {
  @IsIn([true]) ok!: true;
  @IsString() serverId!: string;
  @IsNumber() correctionMs!: number;
  @IsOptional() @IsBoolean() clamped?: boolean;
  @IsObject() @ValidateNested() @Type(() => ClockReadingDto) clock!: ClockReadingDto;
}

/** The deficiencies a set of service reports and probe reports imply (pure). */
export function deficienciesOf(services: ServiceReport[], probes: Compilation['probes']): Deficiency[] {
  const out: Deficiency[] = [];
  for (const s of services) {
    if (s.status === 'ok') continue;
    out.push({ kind: `service-${s.status}`, service: s.name, applications: s.applications, mandatory: s.mandatory, detail: s.detail });
  }
  if (probes.login && !probes.login.ok) out.push({ kind: 'login-probe', service: 'login-probe', applications: [], mandatory: false, detail: probes.login.detail });
  if (probes.refresh && !probes.refresh.ok) out.push({ kind: 'refresh-probe', service: 'refresh-probe', applications: [], mandatory: false, detail: probes.refresh.detail });
  return out;
}

/**
 * A request on the attendant's queue. One set-clock moves the correction by at most
 * MAX_SET_CLOCK_MS either way: twice the largest CLOCK_MAX_CORRECTION_MS, so one command can
 * always bring a correction from one end of its allowed range to the other.
 */
/** The signed command of every request to an attendant (its `op` is in the signed body): `query` and `set-clock`. */
export const ATTENDANT_COMMAND = 'attendant.request';

export class AttendantRequestDto {
  @IsIn(['query', 'set-clock']) op!: 'query' | 'set-clock';
  @IsOptional() @IsNumber() @Min(-MAX_SET_CLOCK_MS) @Max(MAX_SET_CLOCK_MS) adjustMs?: number;
  @IsOptional() @IsString() @MaxLength(128) by?: string;
}
