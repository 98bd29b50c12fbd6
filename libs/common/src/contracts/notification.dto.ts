import 'reflect-metadata';
import { ApiProperty, ApiPropertyOptional, ApiPropertyOptions, ApiSchema, ApiSchemaOptions } from '@nestjs/swagger';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsISO8601, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength, ValidateNested,
} from 'class-validator';
import { REASONS, Reason, SOURCES, Source, TARGET_TYPES, TargetType } from '../domain/notification';

export const TARGET_PATTERN = /^(?:[A-Za-z0-9._:-]{1,128}|\*)$/;
export const KIND_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
const ENTRY_KIND = /^(?:\*|[A-Za-z0-9._:-]{1,64})$/;
export const MAX_NOTIFICATION_BYTES = 64 * 1024;
/** ISO-8601 date-time with a 4-digit year and an explicit zone (`Z` or `+hh:mm`): a time without a zone means nothing across servers. */
export const ZONED_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;
const ZONED = { message: '$property must be an ISO-8601 date-time with a zone (Z or +hh:mm)' };

/**
 * What the OpenAPI document says of each field: the same bounds as the validators beside it (the
 * document is generated from these classes; a test checks the contract's examples against it).
 */
const DOC: Record<string, ApiPropertyOptions> = {
  target: { pattern: TARGET_PATTERN.source, maxLength: 128, description: 'Application or resource id, or `*` for the whole system.', example: 'mail' },
  targetType: { enum: [...TARGET_TYPES], description: 'Default `application`; ignored for `*`.' },
  available: { description: 'false: the target is down; true: it is back.', example: false },
  reason: { enum: [...REASONS], description: 'Why it is unavailable; default `unknown` when unavailable.', example: 'maintenance' },
  component: { maxLength: 256, description: 'The failing component, when known.' },
  message: { maxLength: 1000, description: 'Shown to users.', example: 'disk swap' },
  operatorId: { maxLength: 128, description: 'Who entered it.' },
  source: { enum: [...SOURCES], description: 'Default `operator`.' },
  autoRestore: { description: 'Available again once `expectedUpAt` has passed.' },
  kinds: { type: 'array', maxItems: 32, items: { type: 'string', pattern: KIND_PATTERN.source }, description: 'The request kinds it applies to; absent means all kinds.', example: ['send'] },
  id: { minLength: 1, maxLength: 128, description: 'Unique id; assigned at ingress when absent. The greater (`timestamp`, `id`) wins.' },
  priority: { type: 'integer', minimum: 0, maximum: 9, description: 'Higher overtakes a backlog; default 0 (or the AMQP priority property).' },
};

/** A time field in the document: the zoned pattern (not `format: date-time`, which would refuse `14:00Z` or `+0200` that we take). */
function timeDoc(what: string): ApiPropertyOptions {
  return { pattern: ZONED_TIME.source, description: `${what}: ISO-8601 with a zone (\`Z\` or \`+hh:mm\`), years 1970-9999.`, example: '2026-11-27T14:00:00Z' };
}

/**
 * The schema of a DTO validated with `forbidNonWhitelisted`: no fields but its own. (ApiSchema's
 * type names only `name` and `description`, but the schema takes every other option as it is.)
 */
function closedSchema(description: string): ClassDecorator {
  return ApiSchema({ description, additionalProperties: false } as ApiSchemaOptions);
}

/** A notification on the wire (HTTP body or AMQP message), as the contract defines it. */
@closedSchema('A notification (JSON, UTF-8, at most 64 KiB). Unknown fields are refused.')
export class NotificationDto {
  @ApiProperty(DOC.target)
  @IsString() @Matches(TARGET_PATTERN, { message: 'target must be 1-128 of [A-Za-z0-9._:-] or "*"' })
  target!: string;

  @ApiPropertyOptional(DOC.targetType)
  @IsOptional() @IsIn(TARGET_TYPES)
  targetType?: TargetType;

  @ApiProperty(DOC.available)
  @IsBoolean()
  available!: boolean;

  @ApiPropertyOptional(DOC.reason)
  @IsOptional() @IsIn(REASONS)
  reason?: Reason;

  @ApiPropertyOptional(DOC.component)
  @IsOptional() @IsString() @MaxLength(256)
  component?: string;

  @ApiPropertyOptional(DOC.message)
  @IsOptional() @IsString() @MaxLength(1000)
  message?: string;

  @ApiPropertyOptional(DOC.operatorId)
  @IsOptional() @IsString() @MaxLength(128)
  operatorId?: string;

  @ApiPropertyOptional(DOC.source)
  @IsOptional() @IsIn(SOURCES)
  source?: Source;

  @ApiPropertyOptional(timeDoc('When it goes down; a time ahead makes it a scheduled outage'))
  @IsOptional() @IsISO8601({ strict: true }) @Matches(ZONED_TIME, ZONED)
  downAt?: string;

  @ApiPropertyOptional(timeDoc('Expected return'))
  @IsOptional() @IsISO8601({ strict: true }) @Matches(ZONED_TIME, ZONED)
  expectedUpAt?: string;

  @ApiPropertyOptional(DOC.autoRestore)
  @IsOptional() @IsBoolean()
  autoRestore?: boolean;

  @ApiPropertyOptional(DOC.kinds)
  @IsOptional() @IsArray() @ArrayMaxSize(32) @IsString({ each: true }) @Matches(KIND_PATTERN, { each: true, message: 'each request kind must be 1-64 of [A-Za-z0-9._:-]' })
  requestKinds?: string[];

  @ApiPropertyOptional(timeDoc('Creation time; assigned at ingress when absent; refused when stale or too far ahead'))
  @IsOptional() @IsISO8601({ strict: true }) @Matches(ZONED_TIME, ZONED)
  timestamp?: string;

  @ApiPropertyOptional(DOC.id)
  @IsOptional() @IsString() @MinLength(1) @MaxLength(128)
  id?: string;

  @ApiPropertyOptional(DOC.priority)
  @IsOptional() @IsInt() @Min(0) @Max(9)
  priority?: number;
}

/** One entry as nodes exchange it during the handshake: a notification projected on one kind. */
@closedSchema('An entry a node holds: a notification for one request kind (`*` = all kinds), in canonical form.')
export class EntryDto {
  @ApiProperty(DOC.targetType) @IsIn(TARGET_TYPES) targetType!: TargetType;
  @ApiProperty(DOC.target) @IsString() @Matches(TARGET_PATTERN) target!: string;
  @ApiProperty({ pattern: ENTRY_KIND.source, description: 'The request kind, or `*` for all kinds.' }) @IsString() @Matches(ENTRY_KIND) kind!: string;
  @ApiProperty(DOC.available) @IsBoolean() available!: boolean;
  @ApiPropertyOptional(DOC.reason) @IsOptional() @IsIn(REASONS) reason?: Reason;
  @ApiPropertyOptional(DOC.component) @IsOptional() @IsString() @MaxLength(256) component?: string;
  @ApiPropertyOptional(DOC.message) @IsOptional() @IsString() @MaxLength(1000) message?: string;
  @ApiPropertyOptional(DOC.operatorId) @IsOptional() @IsString() @MaxLength(128) operatorId?: string;
  @ApiProperty(DOC.source) @IsIn(SOURCES) source!: Source;
  @ApiPropertyOptional(timeDoc('When it goes down')) @IsOptional() @IsISO8601({ strict: true }) @Matches(ZONED_TIME, ZONED) downAt?: string;
  @ApiPropertyOptional(timeDoc('Expected return')) @IsOptional() @IsISO8601({ strict: true }) @Matches(ZONED_TIME, ZONED) expectedUpAt?: string;
  @ApiPropertyOptional(DOC.autoRestore) @IsOptional() @IsBoolean() autoRestore?: boolean;
  @ApiProperty(timeDoc('Creation time')) @IsISO8601({ strict: true }) @Matches(ZONED_TIME, ZONED) timestamp!: string;
  @ApiProperty(DOC.id) @IsString() @MinLength(1) @MaxLength(128) id!: string;
  @ApiProperty(DOC.priority) @IsInt() @Min(0) @Max(9) priority!: number;
}

/** A batch of entries (re-broadcast or handshake payload); nested validation of each. */
export class EntryBatchDto {
  @ApiProperty({ type: [EntryDto] })
  @IsArray() @ValidateNested({ each: true }) @Type(() => EntryDto)
  entries!: EntryDto[];
}
