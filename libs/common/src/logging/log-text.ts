import { Logger } from '@nestjs/common';

/** The logging surface the library needs; Nest's Logger satisfies it. */
export interface LoggerLike {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * A `LoggerLike` that writes through Nest's logger under `context`: in an app that is the
 * FarmLogger (JSON lines), in a tool or a test Nest's console logger.
 */
export function nestLogger(context: string): LoggerLike {
  const nest = new Logger(context);
  return { log: (m) => nest.log(m), warn: (m) => nest.warn(m), error: (m) => nest.error(m) };
}

// A URL's password (scheme://user:PASSWORD@host) and bearer tokens, wherever they appear in a line.
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi;
const BEARER = /\b(Bearer\s+)[A-Za-z0-9._~+/=-]+/g;

/** `text` with every URL password and bearer token replaced by `***`: the one redaction rule of every log line. */
export function redactSecrets(text: string): string {
  return text.replace(URL_PASSWORD, '$1***@').replace(BEARER, '$1***');
}

/** A URL for messages: normalised, its password redacted (by `redactSecrets`' rule). */
export function describeUrl(url: string): string {
  try {
    return redactSecrets(new URL(url).toString());
  } catch {
    return '(unparseable URL)';
  }
}

// Matching control characters is the point here.
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u2028\u2029"\\]/g;
const SAFE_MAX = 200;

/** The escape of one character that must not reach a log line raw. */
function escapeChar(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  if (c === '\t') return '\\t';
  if (c === '"' || c === '\\') return `\\${c}`;
  return `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`;
}

/**
 * A value made safe to put into a log line: control characters (newlines included), quotes and
 * backslashes escaped, long values cut with a marker, so an id or peer name from a request can
 * neither forge a line nor flood one. Values that need no escaping come back unchanged.
 */
export function safe(value: unknown, max = SAFE_MAX): string {
  const s = typeof value === 'string' ? value : value === undefined ? 'undefined' : String(value);
  const cut = s.length > max ? `${s.slice(0, max)}…(${s.length} chars)` : s;
  return cut.replace(UNSAFE_CHARS, escapeChar);
}
