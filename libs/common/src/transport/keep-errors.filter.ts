import { ArgumentsHost, BadRequestException, Catch, RpcExceptionFilter } from '@nestjs/common';
import { Observable, throwError } from 'rxjs';
import { InvalidNotificationError } from '../domain/errors';

/**
 * The farm transport's exception filter: hands what a handler (or a pipe or guard) threw back
 * to the transport unchanged, so it can tell poison from trouble. A `ValidationPipe` refusal
 * (BadRequestException) is poison: the message will never be valid.
 */
@Catch()
export class KeepErrorsFilter implements RpcExceptionFilter<unknown> {
  catch(exception: unknown, _host: ArgumentsHost): Observable<never> {
    if (exception instanceof BadRequestException) return throwError(() => new InvalidNotificationError(validationMessage(exception)));
    return throwError(() => exception);
  }
}

function validationMessage(e: BadRequestException): string {
  const body = e.getResponse() as { message?: unknown };
  const m = body && typeof body === 'object' ? body.message : undefined;
  return Array.isArray(m) ? m.join('; ') : typeof m === 'string' ? m : e.message;
}
