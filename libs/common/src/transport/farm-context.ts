import { BaseRpcContext } from '@nestjs/microservices';
import type * as amqp from 'amqplib';
import type { Delivery } from '../messaging/subscription';

/** What an `@EventPattern`/`@MessagePattern` handler of the farm transport gets with `@Ctx()`. */
export class FarmContext extends BaseRpcContext<[Delivery, string]> {
  /** The delivery being handled: the transport acks it when the handler resolves. */
  getDelivery(): Delivery {
    return this.args[0];
  }

  getMessage(): amqp.ConsumeMessage {
    return this.args[0].msg;
  }

  getPattern(): string {
    return this.args[1];
  }
}
