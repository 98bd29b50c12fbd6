import { ArgumentsHost, BadRequestException, Catch, HttpException, RpcExceptionFilter } from '@nestjs/common';
import { RpcException } from '@nestjs/microservices';
import { Observable, throwError } from 'rxjs';
import { InvalidNotificationError, PoisonMessageError } from '../domain/errors';

/**
 * The farm transport's exception filter: hands what a handler (or a pipe or guard) threw back
 * to the transport, so it can tell poison from trouble. Nest's own refusals keep their meaning
 * on messages: a `ValidationPipe` refusal (BadRequestException) is an invalid message, and any
 * other client error (4xx: a guard's 401 or 403, a 404, a 422...) will be refused again however
 * often it is retried, so both are poison and dead-lettered with their reason. So is an
 * `RpcException`: Nest's way for a message handler to refuse what it was given, and what a guard
 * that returns false throws ("Forbidden resource"). A 408 or 429 says "later", and a 5xx is the
 * service's own trouble: those, like everything else thrown, are trouble and retried.
 */
@Catch()
export class KeepErrorsFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    return throwError(() => transportError(exception));
  }
}

/** What the transport should see for an error a handler, pipe or guard threw (see KeepErrorsFilter). */
export function transportError(exception: unknown): unknown {
  if (exception instanceof BadRequestException) return new InvalidNotificationError(refusalMessage(exception));
  if (exception instanceof HttpException && isFinalRefusal(exception.getStatus())) {
    return new PoisonMessageError(`${exception.getStatus()} ${refusalMessage(exception)}`);
  }
  if (exception instanceof RpcException) return new PoisonMessageError(rpcMessage(exception));
  return exception;
}

function isFinalRefusal(status: number): boolean {
  return status >= 400 && status < 500 && status !== 408 && status !== 429;
}

function refusalMessage(e: HttpException): string {
  const body = e.getResponse() as { message?: unknown };
  const m = body && typeof body === 'object' ? body.message : undefined;
  return Array.isArray(m) ? m.join('; ') : typeof m === 'string' ? m : e.message;
}

function rpcMessage(e: RpcException): string {
  const err = e.getError();
  if (typeof err === 'string') return err;
  const m = err && typeof err === 'object' ? (err as { message?: unknown }).message : undefined;
  return typeof m === 'string' ? m : e.message;
}
