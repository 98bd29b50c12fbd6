import { MessagePattern, Payload } from '@nestjs/microservices';
import { FarmConsumer } from '@farm/common';
import { AttendantService } from '../serving/attendant.service';

/** The farm-transport pattern of the poller's requests (on `<ns>.attendant.<serverId>`). */
export const ATTENDANT_REQUESTS = 'attendant.requests';

/**
 * The attendant's message handler: the poller's one query (the whole compilation) and its
 * set-clock commands. A malformed request gets an error answer, never a crash.
 */
@FarmConsumer()
export class QueriesConsumer {
  constructor(private readonly attendant: AttendantService) {}

  @MessagePattern<string>(ATTENDANT_REQUESTS)
  answer(@Payload() body: Buffer): Promise<Buffer> {
    return this.attendant.answer(body);
  }
}
