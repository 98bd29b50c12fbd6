import { ArgumentsHost, Catch, ExceptionFilter, HttpException, Logger } from '@nestjs/common';
import type { Response } from 'express';
import { AccessDeniedError, BrokerUnavailableError, InvalidNotificationError } from '../domain/errors';

/**
 * Whether an error is ioredis saying Redis cannot be reached right now (a client without an
 * offline queue, a closed connection, retries exhausted): the store is away, which is trouble
 * for the caller to retry, not a fault of ours.
 */
export function isRedisUnavailable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  return err.name === 'MaxRetriesPerRequestError' || /^(Stream isn't writeable and enableOfflineQueue options is false|Connection is closed\.?)$/.test(err.message);
}

/** Maps domain errors to the contract's HTTP answers: 400 with field errors, 503 when the broker or Redis is away. */
@Catch()
export class FarmExceptionFilter implements ExceptionFilter {
  private readonly log = new Logger('HTTP');

  catch(err: unknown, host: ArgumentsHost): void {
    const res = host.switchToHttp().getResponse<Response>();
    if (err instanceof InvalidNotificationError) {
      res.status(400).json({ errors: err.errors.length ? err.errors : [{ field: '', message: err.message }] });
    } else if (err instanceof AccessDeniedError) {
      if (err.status === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="farm"');
      res.status(err.status).json({ error: err.status === 401 ? 'unauthorized' : 'forbidden', reason: err.reason, message: err.message });
    } else if (err instanceof BrokerUnavailableError) {
      res.status(503).setHeader('Retry-After', '1').json({ error: 'broker unavailable', message: err.message });
    } else if (isRedisUnavailable(err)) {
      res.status(503).setHeader('Retry-After', '1').json({ error: 'store unavailable', message: `Redis cannot be reached now (${(err as Error).message}); try again` });
    } else if (err instanceof HttpException) {
      res.status(err.getStatus()).json(err.getResponse());
    } else if (typeof err === 'object' && err !== null && 'type' in err && (err as { type: string }).type === 'entity.too.large') {
      res.status(413).json({ errors: [{ field: '', message: 'body exceeds 65536 bytes' }] });
    } else if (typeof err === 'object' && err !== null && 'status' in err && typeof (err as { status: unknown }).status === 'number' && (err as { status: number }).status < 500) {
      const e = err as { status: number; message?: string };
      res.status(e.status).json({ errors: [{ field: '', message: e.message ?? 'bad request' }] });
    } else {
      this.log.error(`unhandled error: ${(err as Error)?.stack ?? String(err)}`);
      res.status(500).json({ error: 'internal error' });
    }
  }
}
