import { Body, Controller, HttpCode, Post } from '@nestjs/common';
import { RequiresScope } from '@farm/common';
import { NotificationPublisher } from '../publishing/notification-publisher.service';

@Controller('v1/notifications')
export class NotificationsController {
  constructor(private readonly publisher: NotificationPublisher) {}

  /** 202 only after the broker confirmed; 400 with field errors; 503 while the broker is away. */
  @Post()
  @RequiresScope('notify')
  @HttpCode(202)
  create(@Body() body: Buffer): Promise<{ id: string; timestamp: string }> {
    return this.publisher.publish(Buffer.isBuffer(body) ? body : Buffer.alloc(0));
  }
}
