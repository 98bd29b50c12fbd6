import { REASONS, SOURCES, TARGET_TYPES } from '../domain/notification';
import { KIND_PATTERN, TARGET_PATTERN } from './notification.dto';

/**
 * A conservative, allocation-free pre-check for the hot path: true only for objects that the
 * class-validator DTO certainly accepts (a property test holds it to that). Anything it is unsure
 * of (nulls, non-canonical dates, unknown keys) goes through class-validator, which remains the
 * definition of the contract and the source of every error message.
 */
const ALLOWED = new Set([
  'target', 'targetType', 'available', 'reason', 'component', 'message', 'operatorId', 'source',
  'downAt', 'expectedUpAt', 'autoRestore', 'requestKinds', 'timestamp', 'id', 'priority',
]);
const TARGET_TYPE_SET = new Set<unknown>(TARGET_TYPES);
const REASON_SET = new Set<unknown>(REASONS);
const SOURCE_SET = new Set<unknown>(SOURCES);
const CANONICAL_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
/** class-validator reads a year below 1000 as an unpadded number: refused, or judged by the local zone. */
const FIRST_CERTAIN_MS = Date.UTC(1000, 0, 1);

function optString(v: unknown, max: number): boolean {
  return v === undefined || (typeof v === 'string' && v.length <= max);
}

function optTime(v: unknown): boolean {
  if (v === undefined) return true;
  if (typeof v !== 'string' || !CANONICAL_TIME.test(v)) return false;
  const t = Date.parse(v);
  return t >= FIRST_CERTAIN_MS && new Date(t).toISOString() === v;
}

export function certainlyValidNotification(value: unknown): boolean {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const o = value as Record<string, unknown>;
  for (const k in o) if (!ALLOWED.has(k) || !Object.prototype.hasOwnProperty.call(o, k)) return false;
  if (typeof o.target !== 'string' || !TARGET_PATTERN.test(o.target)) return false;
  if (typeof o.available !== 'boolean') return false;
  if (o.targetType !== undefined && !TARGET_TYPE_SET.has(o.targetType)) return false;
  if (o.reason !== undefined && !REASON_SET.has(o.reason)) return false;
  if (o.source !== undefined && !SOURCE_SET.has(o.source)) return false;
  if (!optString(o.component, 256) || !optString(o.message, 1000) || !optString(o.operatorId, 128)) return false;
  if (o.id !== undefined && (typeof o.id !== 'string' || o.id.length < 1 || o.id.length > 128)) return false;
  if (!optTime(o.downAt) || !optTime(o.expectedUpAt) || !optTime(o.timestamp)) return false;
  if (o.autoRestore !== undefined && typeof o.autoRestore !== 'boolean') return false;
  if (o.priority !== undefined && (typeof o.priority !== 'number' || !Number.isInteger(o.priority) || o.priority < 0 || o.priority > 9)) return false;
  if (o.requestKinds !== undefined) {
    const ks = o.requestKinds;
    if (!Array.isArray(ks) || ks.length > 32) return false;
    for (const k of ks) if (typeof k !== 'string' || !KIND_PATTERN.test(k)) return false;
  }
  return true;
}
