/** Named errors of the domain and its edges; no HTTP exceptions inside workers. */

export class FarmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

/**
 * A message that can never succeed, whoever retries it (malformed, invalid, or refused by a
 * guard): dead-lettered with its reason, never retried. See `isPoison`.
 */
export class PoisonMessageError extends FarmError {}

/** Input that can never succeed: refused (HTTP 400) or dead-lettered (AMQP), never retried. */
export class InvalidNotificationError extends PoisonMessageError {
  constructor(
    message: string,
    readonly errors: { field: string; message: string }[] = [],
  ) {
    super(message);
  }
}

/** The broker cannot take a message now (not connected, nacked, or channel closed before the confirm). */
export class BrokerUnavailableError extends FarmError {}

/** A configuration value is missing or wrong; the app stops at boot. */
export class ConfigError extends FarmError {}

/** A peer did not answer a handshake request in time. */
export class PeerTimeoutError extends FarmError {}

/** An HTTP caller without the credential an operation needs: 401 (none, or unknown) or 403 (lacks the scope). */
export class AccessDeniedError extends FarmError {
  constructor(
    readonly status: 401 | 403,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}
