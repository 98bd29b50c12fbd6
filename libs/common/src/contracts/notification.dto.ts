import 'reflect-metadata';
import { Type } from 'class-transformer';
import {
  ArrayMaxSize, IsArray, IsBoolean, IsIn, IsInt, IsISO8601, IsOptional, IsString, Matches, Max, MaxLength, Min, MinLength, ValidateNested,
} from 'class-validator';
import { REASONS, Reason, SOURCES, Source, TARGET_TYPES, TargetType } from '../domain/notification';

export const TARGET_PATTERN = /^(?:[A-Za-z0-9._:-]{1,128}|\*)$/;
export const KIND_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
export const MAX_NOTIFICATION_BYTES = 64 * 1024;
/** ISO-8601 date-time with a 4-digit year and an explicit zone (`Z` or `+hh:mm`): a time without a zone means nothing across servers. */
export const ZONED_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:?\d{2})$/;
const ZONED = { message: '$property must be an ISO-8601 date-time with a zone (Z or +hh:mm)' };

/** A notification on the wire (HTTP body or AMQP message), as the contract defines it. */
export class NotificationDto {
  @IsString() @Matches(TARGET_PATTERN, { message: 'target must be 1-128 of [A-Za-z0-9._:-] or "*"' })
  target!: string;

  @IsOptional() @IsIn(TARGET_TYPES)
  targetType?: TargetType;

  @IsBoolean()
  available!: boolean;

  @IsOptional() @IsIn(REASONS)
  reason?: Reason;

  @IsOptional() @IsString() @MaxLength(256)
  component?: string;

  @IsOptional() @IsString() @MaxLength(1000)
  message?: string;

  @IsOptional() @IsString() @MaxLength(128)
  operatorId?: string;

  @IsOptional() @IsIn(SOURCES)
  source?: Source;

  @IsOptional() @IsISO8601({ strict: true }) @Matches(ZONED_TIME, ZONED)
  downAt?: string;

  @IsOptional() @IsISO8601({ strict: true }) @Matches(ZONED_TIME, ZONED)
  expectedUpAt?: string;

  @IsOptional() @IsBoolean()
  autoRestore?: boolean;

  @IsOptional() @IsArray() @ArrayMaxSize(32) @IsString({ each: true }) @Matches(KIND_PATTERN, { each: true, message: 'each request kind must be 1-64 of [A-Za-z0-9._:-]' })
  requestKinds?: string[];

  @IsOptional() @IsISO8601({ strict: true }) @Matches(ZONED_TIME, ZONED)
  timestamp?: string;

  @IsOptional() @IsString() @MinLength(1) @MaxLength(128)
  id?: string;

  @IsOptional() @IsInt() @Min(0) @Max(9)
  priority?: number;
}

/** One entry as nodes exchange it during the handshake: a notification projected on one kind. */
export class EntryDto {
  @IsIn(TARGET_TYPES) targetType!: TargetType;
  @IsString() @Matches(TARGET_PATTERN) target!: string;
  @IsString() @Matches(/^(?:\*|[A-Za-z0-9._:-]{1,64})$/) kind!: string;
  @IsBoolean() available!: boolean;
  @IsOptional() @IsIn(REASONS) reason?: Reason;
  @IsOptional() @IsString() @MaxLength(256) component?: string;
  @IsOptional() @IsString() @MaxLength(1000) message?: string;
  @IsOptional() @IsString() @MaxLength(128) operatorId?: string;
  @IsIn(SOURCES) source!: Source;
  @IsOptional() @IsISO8601({ strict: true }) @Matches(ZONED_TIME, ZONED) downAt?: string;
  @IsOptional() @IsISO8601({ strict: true }) @Matches(ZONED_TIME, ZONED) expectedUpAt?: string;
  @IsOptional() @IsBoolean() autoRestore?: boolean;
  @IsISO8601({ strict: true }) @Matches(ZONED_TIME, ZONED) timestamp!: string;
  @IsString() @MinLength(1) @MaxLength(128) id!: string;
  @IsInt() @Min(0) @Max(9) priority!: number;
}

/** A batch of entries (re-broadcast or handshake payload); nested validation of each. */
export class EntryBatchDto {
  @IsArray() @ValidateNested({ each: true }) @Type(() => EntryDto)
  entries!: EntryDto[];
}
