import { Ctx, MessagePattern, Payload } from '@nestjs/microservices';
import { FarmConsumer, FarmContext, SIGNATURE_HEADER } from '@farm/common';
import { AttendantService } from '../serving/attendant.service';

/** The farm-transport pattern of the poller's requests (on `<ns>.attendant.<serverId>`). */
export const ATTENDANT_REQUESTS = 'attendant.requests';

/**
 * The attendant's message handler: the poller's one query (the whole compilation) and its
 * set-clock commands, each signed by the poller (see AttendantService.answer). A malformed or
 * unsigned request gets an error answer, never a crash.
 */
@FarmConsumer()
export class QueriesConsumer {
  constructor(private readonly attendant: AttendantService) {}

  @MessagePattern<string>(ATTENDANT_REQUESTS)
  answer(@Payload() body: Buffer, @Ctx() ctx: FarmContext): Promise<Buffer> {
    const signature = ctx.getMessage().properties.headers?.[SIGNATURE_HEADER] as unknown;
    return this.attendant.answer(body, typeof signature === 'string' ? signature : undefined);
  }
}
