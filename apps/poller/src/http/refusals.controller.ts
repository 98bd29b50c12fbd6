import { BadRequestException, Controller, Get, Query } from '@nestjs/common';
import { RefusalEvent } from '@farm/common';
import { PollerService } from '../polling/poller.service';

/**
 * Commands refused anywhere in the farm (forged, replayed, stale, wrong-key signed commands, and
 * re-broadcasts from the wrong broker user): the latest ones. The live feed (`/v1/events`) raises
 * each as a `refusal` event as it happens.
 */
@Controller('v1')
export class RefusalsController {
  constructor(private readonly poller: PollerService) {}

  @Get('refusals')
  async list(@Query('limit') limit?: string): Promise<{ refusals: RefusalEvent[] }> {
    const n = limit === undefined ? 50 : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new BadRequestException({ errors: [{ field: 'limit', message: 'limit must be an integer from 1 to 1000' }] });
    return { refusals: await this.poller.recentRefusals(n) };
  }
}
