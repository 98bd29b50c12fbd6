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
