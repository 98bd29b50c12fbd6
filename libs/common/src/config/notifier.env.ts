import { IsInt, IsOptional, IsString, Matches, Max, Min } from 'class-validator';
import { BaseEnv } from './env';

export class NotifierEnv extends BaseEnv {
  @IsInt() @Min(0) @Max(65535)
  override HTTP_PORT = 3000;

  /** How long POST /v1/notifications waits for the broker's confirm before answering 503. */
  @IsInt() @Min(100) @Max(60_000)
  PUBLISH_TIMEOUT_MS = 5000;

  /** This server's id for its corrected clock (see the attendant); default the host name. */
  @IsOptional() @IsString() @Matches(/^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/, { message: 'SERVER_ID must be 1-64 of [A-Za-z0-9._-]' })
  SERVER_ID?: string;
}
