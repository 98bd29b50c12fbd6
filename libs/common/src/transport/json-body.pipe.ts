import { Injectable, PipeTransform } from '@nestjs/common';
import { parseJson } from '../contracts/validation';

/**
 * A message body (Buffer) to the JSON value it holds, with the farm's bounds (size, depth,
 * UTF-8); malformed input is poison (InvalidNotificationError). Put it before a ValidationPipe:
 * `@Payload(JsonBodyPipe, new ValidationPipe(...)) body: SomeDto`.
 */
@Injectable()
export class JsonBodyPipe implements PipeTransform<unknown, unknown> {
  transform(value: unknown): unknown {
    return Buffer.isBuffer(value) ? parseJson(value) : value;
  }
}
