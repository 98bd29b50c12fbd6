import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { ApiAcceptedResponse, ApiBody, ApiOperation } from '@nestjs/swagger';
import { AcceptedNotificationDto, ApiFieldErrors, ApiRefusal, NotificationDto, RequiresScope } from '@farm/common';
import { NotificationPublisher } from '../publishing/notification-publisher.service';

@Controller('v1/notifications')
export class NotificationsController {
  constructor(private readonly publisher: NotificationPublisher) {}

  /** 202 only after the broker confirmed; 400 with field errors; 503 while the broker is away. */
  @Post()
  @RequiresScope('notify')
  @HttpCode(202)
  @ApiOperation({
    summary: 'Send a notification',
    description: 'Validated (the body is read raw and checked by the same validator as AMQP messages), given an id and timestamp when it has none, and published to the ingress exchange; answered only once the broker confirmed it.',
  })
  @ApiBody({ type: NotificationDto, description: 'A notification (at most 64 KiB of UTF-8 JSON).' })
  @ApiAcceptedResponse({ description: 'The broker confirmed it.', type: AcceptedNotificationDto })
  @ApiFieldErrors(400, 'Malformed JSON, unknown fields, wrong types, a time without a zone, out of range, stale or too far ahead.')
  @ApiFieldErrors(413, 'The body exceeds 64 KiB.')
  @ApiFieldErrors(415, 'A body that is not `application/json`.')
  @ApiRefusal(503, 'The broker is unreachable or did not confirm in PUBLISH_TIMEOUT_MS (with `Retry-After: 1`); nothing was sent, send again.')
  create(@Body() body: Buffer): Promise<{ id: string; timestamp: string }> {
    return this.publisher.publish(Buffer.isBuffer(body) ? body : Buffer.alloc(0));
  }
}
