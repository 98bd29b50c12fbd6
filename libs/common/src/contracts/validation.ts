import { randomUUID } from 'node:crypto';
import { plainToInstance } from 'class-transformer';
import { ValidationError, validateSync } from 'class-validator';
import { InvalidNotificationError } from '../domain/errors';
import { Entry, Notification, canonicalEntry } from '../domain/notification';
import { certainlyValidNotification } from './fast-check-notification';
import { EntryBatchDto, MAX_NOTIFICATION_BYTES, NotificationDto } from './notification.dto';

export type FieldError = { field: string; message: string };

const VALIDATOR_OPTIONS = { whitelist: true, forbidNonWhitelisted: true, forbidUnknownValues: true } as const;
const UTF8 = new TextDecoder('utf-8', { fatal: true });
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
  let text: string;
  try {
    text = typeof input === 'string' ? input : UTF8.decode(input);
  } catch {
    throw new InvalidNotificationError('body is not valid UTF-8', [{ field: '', message: 'not valid UTF-8' }]);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new InvalidNotificationError(`malformed JSON: ${(err as Error).message}`, [{ field: '', message: 'malformed JSON' }]);
  }
}

/** Deepest nesting any of our messages has (a notification is 3 levels; a handshake batch 4). */
export const MAX_DEPTH = 16;

/**
 * Refuses prototype-polluting keys and nesting deeper than `maxDepth` anywhere, before any object
 * mapping happens. Walks with an explicit stack, so no input can exhaust the call stack.
 */
export function assertSafeShape(value: unknown, maxDepth = MAX_DEPTH): void {
  if (value === null || typeof value !== 'object') return;
  const stack: { v: object; path: string; depth: number }[] = [{ v: value, path: '', depth: 1 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (depth > maxDepth) throw new InvalidNotificationError(`nested deeper than ${maxDepth} levels`, [{ field: path.replace(/\.$/, ''), message: `nested deeper than ${maxDepth} levels` }]);
    for (const key of Object.keys(v)) {
      if (FORBIDDEN_KEYS.has(key)) throw new InvalidNotificationError(`forbidden field ${path}${key}`, [{ field: `${path}${key}`, message: 'forbidden field name' }]);
      const child = (v as Record<string, unknown>)[key];
      if (child !== null && typeof child === 'object') stack.push({ v: child, path: `${path}${key}.`, depth: depth + 1 });
    }
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
  assertSafeShape(value);
  const dto = plainToInstance(cls, value);
  const errors = flatten(validateSync(dto, VALIDATOR_OPTIONS));
  if (errors.length > 0) throw new InvalidNotificationError(errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors);
  return dto;
}

/** Canonical ISO form of a validated time; a date the runtime cannot represent is refused, never thrown as a RangeError. */
function iso(value: string | undefined, field = 'timestamp'): string | undefined {
  if (value === undefined || value === null) return undefined;
  const t = Date.parse(value);
  if (!Number.isFinite(t) || t < MIN_TIME_MS || t > MAX_TIME_MS) throw new InvalidNotificationError(`${field} ${JSON.stringify(String(value).slice(0, 40))} is out of range`, [{ field, message: 'date out of range (years 1970-9999)' }]);
  return new Date(t).toISOString();
}

/** Dates we accept anywhere: 1970-01-01 to 9999-12-31 (the AMQP timestamp property is unsigned seconds). */
export const MIN_TIME_MS = 0;
export const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

export interface TimeBounds {
  /** The receiver's corrected clock, in ms. */
  now: () => number;
  /** A timestamp further ahead of `now` than this is refused (it would win every later comparison). */
  maxFutureMs: number;
  /** A timestamp older than this is refused as stale (entries that say "available" expire after it). */
  retentionMs: number;
}

/** Refuses a notification time outside the bounds: too far ahead of the receiver's clock, or stale. */
export function checkTimeBounds(timestamp: string, b: TimeBounds): void {
  const t = Date.parse(timestamp);
  const now = b.now();
  if (t > now + b.maxFutureMs) {
    throw new InvalidNotificationError(`timestamp ${timestamp} is more than ${b.maxFutureMs} ms ahead of this receiver's clock (${new Date(now).toISOString()})`, [{ field: 'timestamp', message: `more than ${b.maxFutureMs} ms in the future` }]);
  }
  if (t < now - b.retentionMs) {
    throw new InvalidNotificationError(`timestamp ${timestamp} is older than the retention window of ${b.retentionMs} ms: stale`, [{ field: 'timestamp', message: `older than the retention window (${b.retentionMs} ms)` }]);
  }
}

/**
 * The AMQP `timestamp` property (seconds since the epoch) as a Date, or undefined when absent;
 * a value that is not a representable date is poison.
 */
export function amqpTimestamp(seconds: unknown): Date | undefined {
  if (seconds === undefined || seconds === null) return undefined;
  const ms = typeof seconds === 'number' ? seconds * 1000 : NaN;
  if (!Number.isFinite(ms) || ms <= MIN_TIME_MS || ms > MAX_TIME_MS) {
    throw new InvalidNotificationError(`AMQP timestamp property ${String(seconds).slice(0, 40)} is not a date between 1970 and 9999`, [{ field: 'properties.timestamp', message: 'out of range' }]);
  }
  return new Date(ms);
}

export interface NormalizeOptions {
  now?: () => Date;
  newId?: () => string;
  /** AMQP priority property, used when the body carries none. */
  priority?: number;
  /** Refuse a notification without id or timestamp (re-broadcasts always carry both). */
  requireIdentity?: boolean;
  /** Refuse timestamps too far ahead of the receiver's clock, or stale (ingress paths; not re-broadcasts). */
  bounds?: TimeBounds;
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
    timestamp: iso(dto.timestamp) ?? iso((opts.now?.() ?? new Date()).toISOString()) as string,
    id: dto.id ?? (opts.newId ?? randomUUID)(),
    priority: dto.priority ?? opts.priority ?? 0,
  };
  if (!dto.available) n.reason = dto.reason ?? 'unknown';
  else if (dto.reason != null) n.reason = dto.reason;
  if (dto.component != null) n.component = dto.component;
  if (dto.message != null) n.message = dto.message;
  if (dto.operatorId != null) n.operatorId = dto.operatorId;
  if (dto.downAt != null) n.downAt = iso(dto.downAt, 'downAt');
  if (dto.expectedUpAt != null) n.expectedUpAt = iso(dto.expectedUpAt, 'expectedUpAt');
  if (opts.bounds) checkTimeBounds(n.timestamp, opts.bounds);
  if (dto.autoRestore != null) n.autoRestore = dto.autoRestore;
  if (dto.requestKinds != null && dto.requestKinds.length > 0) n.requestKinds = [...new Set(dto.requestKinds)];
  return n;
}

/** Validates a batch of entries received from a peer. */
export function parseEntries(value: unknown): Entry[] {
  const batch = validateAs(EntryBatchDto, value);
  return batch.entries.map((e) =>
    canonicalEntry({ ...e, timestamp: iso(e.timestamp) as string, downAt: iso(e.downAt, 'downAt'), expectedUpAt: iso(e.expectedUpAt, 'expectedUpAt') }),
  );
}
