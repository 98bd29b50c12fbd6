import { randomUUID } from 'node:crypto';
import { plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { InvalidNotificationError } from '../domain/errors';
import { Entry, Notification, canonicalEntry } from '../domain/notification';
import { certainlyValidNotification } from './fast-check-notification';
import { EntryBatchDto, MAX_NOTIFICATION_BYTES, NotificationDto } from './notification.dto';

export type FieldError = { field: string; message: string };

const VALIDATOR_OPTIONS = { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true } as const;
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

function flatten(errors: ValidationError[], parent = ''): FieldError[] {
  const out: FieldError[] = [];
  for (const e of errors) {
    const field = parent ? `${parent}.${e.property}` : e.property;
    for (const message of Object.values(e.constraints ?? {})) out.push({ field, message });
    if (e.children?.length) out.push(...flatten(e.children, field));
  }
  return out;
}

/** Parses JSON text or bytes, enforcing the size limit; throws InvalidNotificationError. */
export function parseJson(input: Buffer | string, maxBytes = MAX_NOTIFICATION_BYTES): unknown {
  const size = typeof input === 'string' ? Buffer.byteLength(input) : input.length;
  if (size > maxBytes) throw new InvalidNotificationError(`body of ${size} bytes exceeds ${maxBytes} bytes`, [{ field: '', message: `body exceeds ${maxBytes} bytes` }]);
  try {
    return JSON.parse(typeof input === 'string' ? input : input.toString('utf8'));
  } catch (err) {
    throw new InvalidNotificationError(`malformed JSON: ${(err as Error).message}`, [{ field: '', message: 'malformed JSON' }]);
  }
}

/** Refuses prototype-polluting keys anywhere before any object mapping happens. */
function assertSafeKeys(value: unknown, path = ''): void {
  if (value === null || typeof value !== 'object') return;
  for (const key of Object.keys(value)) {
    if (FORBIDDEN_KEYS.has(key)) throw new InvalidNotificationError(`forbidden field ${path}${key}`, [{ field: `${path}${key}`, message: 'forbidden field name' }]);
    assertSafeKeys((value as Record<string, unknown>)[key], `${path}${key}.`);
  }
}

/**
 * Validates any parsed JSON value against a DTO class (whitelist, no unknown fields, no
 * prototype keys) and returns the instance or the field errors; never throws on bad input.
 */
export function checkDto<T extends object>(cls: new () => T, value: unknown): { value: T; errors?: undefined } | { value?: undefined; errors: FieldError[] } {
  try {
    return { value: validateAs(cls, value) };
  } catch (err) {
    if (err instanceof InvalidNotificationError) return { errors: err.errors.length ? err.errors : [{ field: '', message: err.message }] };
    throw err;
  }
}

function validateAs<T extends object>(cls: new () => T, value: unknown): T {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidNotificationError('expected a JSON object', [{ field: '', message: 'expected a JSON object' }]);
  }
  assertSafeKeys(value);
  const dto = plainToInstance(cls, value);
  const errors = flatten(validateSync(dto, VALIDATOR_OPTIONS));
  if (errors.length > 0) throw new InvalidNotificationError(errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
  return dto;
}

function iso(value: string | undefined): string | undefined {
  return value === undefined || value === null ? undefined : new Date(value).toISOString();
}

export interface NormalizeOptions {
  now?: () => Date;
  newId?: () => string;
  /** AMQP priority property, used when the body carries none. */
  priority?: number;
  /** Refuse a notification without id or timestamp (re-broadcasts always carry both). */
  requireIdentity?: boolean;
}

/**
 * Validates a notification (raw bytes, JSON text or a parsed value) and normalises it:
 * defaults applied, id and timestamp assigned when absent, times in canonical ISO form.
 */
export function parseNotification(input: Buffer | string | unknown, opts: NormalizeOptions = {}): Notification {
  const value = typeof input === 'string' || Buffer.isBuffer(input) ? parseJson(input) : input;
  const dto = certainlyValidNotification(value) ? (value as NotificationDto) : validateAs(NotificationDto, value);
  if (opts.requireIdentity && (dto.id == null || dto.timestamp == null)) {
    throw new InvalidNotificationError('a re-broadcast must carry id and timestamp', [{ field: dto.id == null ? 'id' : 'timestamp', message: 'required here' }]);
  }
  const n: Notification = {
    target: dto.target,
    targetType: dto.target === '*' ? 'application' : (dto.targetType ?? 'application'),
    available: dto.available,
    source: dto.source ?? 'operator',
    timestamp: iso(dto.timestamp) ?? (opts.now?.() ?? new Date()).toISOString(),
    id: dto.id ?? (opts.newId ?? randomUUID)(),
    priority: dto.priority ?? opts.priority ?? 0,
  };
  if (!dto.available) n.reason = dto.reason ?? 'unknown';
  else if (dto.reason != null) n.reason = dto.reason;
  if (dto.component != null) n.component = dto.component;
  if (dto.message != null) n.message = dto.message;
  if (dto.operatorId != null) n.operatorId = dto.operatorId;
  if (dto.downAt != null) n.downAt = iso(dto.downAt);
  if (dto.expectedUpAt != null) n.expectedUpAt = iso(dto.expectedUpAt);
  if (dto.autoRestore != null) n.autoRestore = dto.autoRestore;
  if (dto.requestKinds != null && dto.requestKinds.length > 0) n.requestKinds = [...new Set(dto.requestKinds)];
  return n;
}

/** Validates a batch of entries received from a peer. */
export function parseEntries(value: unknown): Entry[] {
  const batch = validateAs(EntryBatchDto, value);
  return batch.entries.map((e) =>
    canonicalEntry({ ...e, timestamp: iso(e.timestamp) as string, downAt: iso(e.downAt), expectedUpAt: iso(e.expectedUpAt) }),
  );
}
