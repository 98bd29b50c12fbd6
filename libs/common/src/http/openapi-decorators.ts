import { applyDecorators } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiProduces, ApiResponse, ApiServiceUnavailableResponse, SchemaObject } from '@nestjs/swagger';
import { FieldErrorsDto, HttpErrorDto } from '../contracts/http-answers.dto';

/** Shorthands for the answers several routes share, in the OpenAPI document. */

/** 400 (or 413, 415) with `{errors: [{field, message}]}`. */
export const ApiFieldErrors = (status: 400 | 413 | 415, description: string) => ApiResponse({ status, description, type: FieldErrorsDto });

/** A refusal with `{error, message}` (404, 409, 503...). */
export const ApiRefusal = (status: number, description: string) => ApiResponse({ status, description, type: HttpErrorDto });

/** `GET /metrics`: Prometheus's text format. */
export const ApiMetricsScrape = (what: string) =>
  applyDecorators(
    ApiOperation({ summary: 'Prometheus metrics', description: what }),
    ApiProduces('text/plain'),
    ApiOkResponse({ description: 'Prometheus text exposition format 0.0.4.', content: { 'text/plain': { schema: { type: 'string' } } } }),
  );

/** An object schema whose every property is described (types kept loose where the shape is the code's). */
export function objectSchema(properties: Record<string, SchemaObject>, required: string[] = Object.keys(properties)): SchemaObject {
  return { type: 'object', properties, required };
}

const checks: SchemaObject = { type: 'object', additionalProperties: true, description: 'Each dependency indicator\'s details (terminus), by name.' };

/** `GET /v1/health`: 200 `ok`, else 503 naming what is down; the app's own fields beside. */
export const ApiHealthReport = (description: string, fields: Record<string, SchemaObject>) => {
  const schema = objectSchema(
    { status: { type: 'string', example: 'ok' }, degraded: { type: 'string', description: 'What is down, comma-separated (only when not ok).', example: 'broker' }, ...fields, checks },
    ['status', ...Object.keys(fields), 'checks'],
  );
  return applyDecorators(
    ApiOperation({ summary: 'Health, with what the app depends on', description }),
    ApiOkResponse({ description: 'Every dependency is up.', schema }),
    ApiServiceUnavailableResponse({ description: 'A dependency is down (or, on a repeater, the first handshake is not done): the same fields, `status` not `ok`.', schema }),
  );
};
