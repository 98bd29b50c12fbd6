/** The logging surface the library needs; Nest's Logger satisfies it. */
export interface LoggerLike {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export function consoleLogger(context: string): LoggerLike {
  const line = (level: string, m: string): string => `${new Date().toISOString()} ${level} [${context}] ${m}`;
  return {
    log: (m) => console.log(line('INFO', m)),
    warn: (m) => console.warn(line('WARN', m)),
    error: (m) => console.error(line('ERROR', m)),
  };
}

/** A URL without its password, for messages. */
export function describeUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/**
 * A value made safe for a log line: control characters (newlines included) escaped, so a
 * client-supplied id or reason can never forge a line; long values cut.
 */
export function safe(value: unknown, max = 300): string {
  const text = typeof value === 'string' ? value : String(value);
  const cut = text.length > max ? `${text.slice(0, max)}...` : text;
  // eslint-disable-next-line no-control-regex
  return cut.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
