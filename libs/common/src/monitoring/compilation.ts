import 'reflect-metadata';
import { ApiProperty, ApiPropertyOptional, ApiPropertyOptions } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsISO8601, IsNumber, IsObject, IsOptional, IsString, Matches, Max, MaxLength, Min, ValidateNested,
} from 'class-validator';
import { LOAD_COMPONENTS } from '../failover/load-score';
import type { Arrangement, Zone } from '../failover/zones';
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

/** The server's load as the attendant last measured it (issue 12): one score and what makes it up. */
export interface LoadReport {
  /** When it was sampled (the attendant's clock, ISO with the zone offset). */
  at: string;
  /** 0 (idle) to 100 (worst), smoothed. */
  score: number;
  /** The zone for new clients of no group (absent when no failover thresholds are configured). */
  zone?: Zone;
  arrangement?: Arrangement;
  /** With per-group thresholds: the zone of every track (`<group>` or `*`, `:returning` for clients deferred before). */
  zones?: Record<string, Zone>;
  components: { name: string; value: number; weight: number; points: number }[];
  mandatoryDown: string[];
  dependentDown: string[];
  forcedBy?: 'mandatory-down' | 'dependent-down';
  /** Sources that could not be read this time, and why. */
  unmeasured: { source: string; detail: string }[];
  /** Clients this server told to move and has not invited back yet (with failover settings). */
  deferred?: string[];
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
  /** The server's load (absent from attendants that do not measure it). */
  load?: LoadReport;
  /** Restarts of services found down after a failed login probe, newest last (absent when none ran). */
  restarts?: RestartRecord[];
}

/** One restart the attendant ran (or refused to run: the limit), and how it ended. */
export interface RestartRecord {
  /** ISO, the attendant's clock. */
  at: string;
  service: string;
  /** `restarted` (the command ran and the service checks ok again), `failed` (it did not), `stopped` (the limit: not run). */
  outcome: 'restarted' | 'failed' | 'stopped';
  detail: string;
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

// ---- DTOs the poller validates answers against (and the OpenAPI document describes) -------

const APPS_DOC: ApiPropertyOptions = { type: [String], maxItems: 64, description: 'The applications it affects.' };

export class DeficiencyDto implements Deficiency {
  @ApiProperty({ enum: [...DEFICIENCY_KINDS] }) @IsIn(DEFICIENCY_KINDS) kind!: DeficiencyKind;
  @ApiPropertyOptional({ maxLength: 128 }) @IsOptional() @IsString() @MaxLength(128) service?: string;
  @ApiProperty(APPS_DOC) @IsArray() @ArrayMaxSize(64) @Matches(APP_PATTERN, { each: true }) applications!: string[];
  @ApiProperty() @IsBoolean() mandatory!: boolean;
  @ApiProperty({ maxLength: 1000 }) @IsString() @MaxLength(1000) detail!: string;
}

export class ServiceReportDto implements ServiceReport {
  @ApiProperty({ maxLength: 128 }) @IsString() @MaxLength(128) name!: string;
  @ApiProperty({ enum: [...CHECK_KINDS] }) @IsIn(CHECK_KINDS) kind!: CheckKind;
  @ApiProperty({ enum: [...SERVICE_STATUSES] }) @IsIn(SERVICE_STATUSES) status!: ServiceStatus;
  @ApiProperty({ maxLength: 1000 }) @IsString() @MaxLength(1000) detail!: string;
  @ApiProperty() @IsBoolean() mandatory!: boolean;
  @ApiProperty(APPS_DOC) @IsArray() @ArrayMaxSize(64) @Matches(APP_PATTERN, { each: true }) applications!: string[];
  @ApiProperty({ minimum: 0 }) @IsNumber() @Min(0) durationMs!: number;
}

export class ProbeReportDto implements ProbeReport {
  @ApiProperty() @IsBoolean() ok!: boolean;
  @ApiProperty({ description: 'ISO-8601.' }) @IsISO8601({ strict: true }) at!: string;
  @ApiProperty({ minimum: 0 }) @IsNumber() @Min(0) durationMs!: number;
  @ApiProperty({ maxLength: 1000 }) @IsString() @MaxLength(1000) detail!: string;
}

export class ProbesDto {
  @ApiProperty({ type: () => ProbeReportDto, nullable: true, description: 'Probe A (log in through the local repeater), null before its first run.' }) @IsOptional() @ValidateNested() @Type(() => ProbeReportDto) login!: ProbeReportDto | null;
  @ApiProperty({ type: () => ProbeReportDto, nullable: true, description: 'Probe B (refresh while logged in), null before its first run.' }) @IsOptional() @ValidateNested() @Type(() => ProbeReportDto) refresh!: ProbeReportDto | null;
}

export class ClockReadingDto implements ClockReading {
  @ApiProperty({ description: 'Local time with the zone offset.', example: '2026-11-24T11:00:00.000+01:00' }) @IsISO8601({ strict: true }) local!: string;
  @ApiProperty({ minimum: 0, description: 'Milliseconds since the epoch by this server\'s clock (system clock + correction).' }) @IsNumber() @Min(0) epochMs!: number;
  @ApiProperty({ type: 'integer', minimum: -14 * 60, maximum: 14 * 60, description: 'Zone offset in minutes east of UTC.' }) @IsInt() @Min(-14 * 60) @Max(14 * 60) offsetMinutes!: number;
  @ApiProperty({ description: 'The correction currently added to the system clock.' }) @IsNumber() correctionMs!: number;
}

export class LoadComponentDto {
  @ApiProperty({ enum: [...LOAD_COMPONENTS] }) @IsIn(LOAD_COMPONENTS) name!: string;
  @ApiProperty({ minimum: 0, maximum: 1, description: 'Fraction of its limit.' }) @IsNumber() @Min(0) @Max(1) value!: number;
  @ApiProperty({ minimum: 0 }) @IsNumber() @Min(0) weight!: number;
  @ApiProperty({ minimum: 0, maximum: 100, description: 'Points of the score it accounts for.' }) @IsNumber() @Min(0) @Max(100) points!: number;
}

export class UnmeasuredDto {
  @ApiProperty({ maxLength: 64 }) @IsString() @MaxLength(64) source!: string;
  @ApiProperty({ maxLength: 1000 }) @IsString() @MaxLength(1000) detail!: string;
}

export class LoadReportDto implements LoadReport {
  @ApiProperty({ description: 'ISO-8601, the attendant\'s clock.' }) @IsISO8601({ strict: true }) at!: string;
  @ApiProperty({ minimum: 0, maximum: 100, description: '0 idle, 100 worst.' }) @IsNumber() @Min(0) @Max(100) score!: number;
  @ApiPropertyOptional({ enum: ['accept', 'hold', 'brief', 'defer'] }) @IsOptional() @IsIn(['accept', 'hold', 'brief', 'defer']) zone?: Zone;
  @ApiPropertyOptional({ enum: ['hold-middle', 'two-zones', 'brief-middle'] }) @IsOptional() @IsIn(['hold-middle', 'two-zones', 'brief-middle']) arrangement?: Arrangement;
  @ApiPropertyOptional({ type: 'object', additionalProperties: { type: 'string', enum: ['accept', 'hold', 'brief', 'defer'] }, description: 'With per-group thresholds: the zone of each track.' }) @IsOptional() @IsObject() zones?: Record<string, Zone>;
  @ApiProperty({ type: () => [LoadComponentDto], maxItems: 16 }) @IsArray() @ArrayMaxSize(16) @ValidateNested({ each: true }) @Type(() => LoadComponentDto) components!: LoadComponentDto[];
  @ApiProperty({ type: [String], maxItems: 256 }) @IsArray() @ArrayMaxSize(256) @IsString({ each: true }) mandatoryDown!: string[];
  @ApiProperty({ type: [String], maxItems: 256 }) @IsArray() @ArrayMaxSize(256) @IsString({ each: true }) dependentDown!: string[];
  @ApiPropertyOptional({ enum: ['mandatory-down', 'dependent-down'] }) @IsOptional() @IsIn(['mandatory-down', 'dependent-down']) forcedBy?: 'mandatory-down' | 'dependent-down';
  @ApiPropertyOptional({ type: [String], maxItems: 10_000, description: 'Clients this server told to move and has not invited back yet.' }) @IsOptional() @IsArray() @ArrayMaxSize(10_000) @IsString({ each: true }) deferred?: string[];
  @ApiProperty({ type: () => [UnmeasuredDto], maxItems: 64 }) @IsArray() @ArrayMaxSize(64) @ValidateNested({ each: true }) @Type(() => UnmeasuredDto) unmeasured!: UnmeasuredDto[];
}

export class RestartRecordDto implements RestartRecord {
  @ApiProperty({ description: 'ISO-8601, the attendant\'s clock.' }) @IsISO8601({ strict: true }) at!: string;
  @ApiProperty({ maxLength: 128 }) @IsString() @MaxLength(128) service!: string;
  @ApiProperty({ enum: ['restarted', 'failed', 'stopped'] }) @IsIn(['restarted', 'failed', 'stopped']) outcome!: 'restarted' | 'failed' | 'stopped';
  @ApiProperty({ maxLength: 1000 }) @IsString() @MaxLength(1000) detail!: string;
}

export class CompilationDto implements Compilation {
  @ApiProperty({ pattern: SERVER_ID_PATTERN.source }) @IsString() @Matches(SERVER_ID_PATTERN) serverId!: string;
  @ApiProperty({ enum: [1], description: 'Attendant protocol version.' }) @IsIn([1]) version!: 1;
  @ApiProperty({ type: () => ClockReadingDto }) @IsObject() @ValidateNested() @Type(() => ClockReadingDto) clock!: ClockReadingDto;
  @ApiProperty({ type: () => [ServiceReportDto], maxItems: 256 }) @IsArray() @ArrayMaxSize(256) @ValidateNested({ each: true }) @Type(() => ServiceReportDto) services!: ServiceReportDto[];
  @ApiProperty({ type: () => ProbesDto }) @IsObject() @ValidateNested() @Type(() => ProbesDto) probes!: ProbesDto;
  @ApiProperty() @IsBoolean() loggedIn!: boolean;
  @ApiProperty({ type: () => [DeficiencyDto], maxItems: 512 }) @IsArray() @ArrayMaxSize(512) @ValidateNested({ each: true }) @Type(() => DeficiencyDto) deficiencies!: DeficiencyDto[];
  @ApiProperty({ minimum: 0, description: 'How long the attendant took to compile this answer.' }) @IsNumber() @Min(0) compiledInMs!: number;
  @ApiPropertyOptional({ type: () => LoadReportDto, description: 'The server\'s load as last measured (issue 12).' }) @IsOptional() @IsObject() @ValidateNested() @Type(() => LoadReportDto) load?: LoadReportDto;
  @ApiPropertyOptional({ type: () => [RestartRecordDto], maxItems: 64, description: 'Restarts of services found down after a failed login probe, newest last.' }) @IsOptional() @IsArray() @ArrayMaxSize(64) @ValidateNested({ each: true }) @Type(() => RestartRecordDto) restarts?: RestartRecordDto[];
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
