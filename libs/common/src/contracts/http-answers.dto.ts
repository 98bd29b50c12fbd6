import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/**
 * The shapes of our HTTP answers, for the OpenAPI document only: nothing validates them, the code
 * that answers builds them (FarmExceptionFilter, the controllers).
 */

export class FieldErrorDto {
  @ApiProperty({ description: 'The field refused (dotted path; empty for the body as a whole).', example: 'target' })
  field!: string;

  @ApiProperty({ example: 'target must be 1-128 of [A-Za-z0-9._:-] or "*"' })
  message!: string;
}

/** 400 (and 413, 415): what is wrong with the request, field by field. */
export class FieldErrorsDto {
  @ApiProperty({ type: [FieldErrorDto] })
  errors!: FieldErrorDto[];
}

/** 401 and 403 from the OperatorGuard. */
export class AccessDeniedDto {
  @ApiProperty({ enum: ['unauthorized', 'forbidden'] })
  error!: 'unauthorized' | 'forbidden';

  @ApiProperty({ description: '`missing-token`, `unknown-token`, `missing-scope`, or `signature-<why>` for a refused signed command.', example: 'missing-scope' })
  reason!: string;

  @ApiProperty({ example: 'token dash has scopes read; this needs admin' })
  message!: string;
}

/** Other refusals (404, 409, 503): what went wrong, in words. */
export class HttpErrorDto {
  @ApiProperty({ example: 'broker unavailable' })
  error!: string;

  @ApiProperty({ description: 'A sentence, or (from Nest\'s own exceptions) sometimes a list of them.' })
  message!: string;

  @ApiPropertyOptional({ example: 404 })
  statusCode?: number;
}

/** 503 from the in-flight limiter: the process already serves HTTP_MAX_IN_FLIGHT requests. */
export class OverloadedDto {
  @ApiProperty({ enum: ['overloaded'] })
  error!: 'overloaded';

  @ApiProperty({ example: 'this process serves at most 256 requests at once (HTTP_MAX_IN_FLIGHT); try again shortly' })
  message!: string;

  @ApiProperty({ description: 'HTTP_MAX_IN_FLIGHT of the process.', example: 256 })
  limit!: number;
}

/** 202 of `POST /v1/notifications`: the id and timestamp the notification was accepted with. */
export class AcceptedNotificationDto {
  @ApiProperty({ example: '3f1c5a0e-8a39-4c4e-9a51-2f7f0c1d9b21' })
  id!: string;

  @ApiProperty({ format: 'date-time', example: '2026-11-27T13:00:00.000Z' })
  timestamp!: string;
}
