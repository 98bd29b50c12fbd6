import { Ctx, EventPattern, MessagePattern, Payload } from '@nestjs/microservices';
import { SIGNATURE_HEADER } from '../auth/command-signature';
import { INGRESS, INGRESS_URGENT } from '../messaging/ingress';
import { FarmConsumer } from '../transport/farm-consumer.decorator';
import { FarmContext } from '../transport/farm-context';
import { NODE_FANOUT, NODE_FANOUT_URGENT, NodeConsumers } from './consumers';
import { NODE_HANDSHAKE, SyncService } from './sync.service';

/**
 * A node's message handlers on the farm transport: notifications from ingress (the first node
 * to take one), re-broadcasts from its own queue, each from its ordinary and its urgent lane,
 * and handshake requests from its peers. Each
 * validates and calls one service; the transport acks when it resolves, dead-letters poison with
 * its reason and retries trouble (see FarmServer). Routes: NodeConsumers.routes, SyncService.route.
 */
@FarmConsumer()
export class NodeMessagesConsumer {
  constructor(
    private readonly consumers: NodeConsumers,
    private readonly sync: SyncService,
  ) {}

  @EventPattern<string>(INGRESS)
  ingress(@Ctx() ctx: FarmContext): Promise<void> {
    return this.consumers.onIngress(ctx.getDelivery());
  }

  @EventPattern<string>(INGRESS_URGENT)
  urgentIngress(@Ctx() ctx: FarmContext): Promise<void> {
    return this.consumers.onIngress(ctx.getDelivery());
  }

  @EventPattern<string>(NODE_FANOUT)
  rebroadcast(@Ctx() ctx: FarmContext): Promise<void> {
    return this.consumers.onFanout(ctx.getDelivery());
  }

  @EventPattern<string>(NODE_FANOUT_URGENT)
  urgentRebroadcast(@Ctx() ctx: FarmContext): Promise<void> {
    return this.consumers.onFanout(ctx.getDelivery());
  }

  @MessagePattern<string>(NODE_HANDSHAKE)
  handshake(@Payload() body: Buffer, @Ctx() ctx: FarmContext): Promise<Buffer> {
    const signature = ctx.getMessage().properties.headers?.[SIGNATURE_HEADER] as unknown;
    return this.sync.answer(body, typeof signature === 'string' ? signature : undefined);
  }
}
