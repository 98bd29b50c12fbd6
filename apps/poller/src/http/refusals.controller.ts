import { BadRequestException, Controller, Get, Query } from '@nestjs/common';
import { ApiOkResponse, ApiOperation, ApiQuery } from '@nestjs/swagger';
import { ApiFieldErrors, RefusalEvent, objectSchema } from '@farm/common';
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
  @ApiOperation({
    summary: 'The latest refused commands in the farm, newest first',
    description: 'Signed commands refused by any node, attendant or poller (forged, replayed, stale, unknown key...), ring replaces the table refused, and re-broadcasts refused for their origin. The live feed raises each as a `refusal` event.',
  })
  @ApiQuery({ name: 'limit', required: false, schema: { type: 'integer', minimum: 1, maximum: 1000, default: 50 } })
  @ApiOkResponse({
    schema: objectSchema({
      refusals: {
        type: 'array',
        items: objectSchema(
          {
            id: { type: 'string', description: 'Stream id, increasing.' },
            at: { type: 'string', format: 'date-time' },
            receiver: { type: 'string', description: 'The process that refused it.' },
            command: { type: 'string' },
            reason: { type: 'string' },
            message: { type: 'string' },
            claimedSender: { type: 'string', description: 'Who it claimed to come from (unverified).' },
          },
          ['id', 'at', 'receiver', 'command', 'reason', 'message'],
        ),
      },
    }),
  })
  @ApiFieldErrors(400, '`limit` is not an integer from 1 to 1000.')
  async list(@Query('limit') limit?: string): Promise<{ refusals: RefusalEvent[] }> {
    const n = limit === undefined ? 50 : Number(limit);
    if (!Number.isInteger(n) || n < 1 || n > 1000) throw new BadRequestException({ errors: [{ field: 'limit', message: 'limit must be an integer from 1 to 1000' }] });
    return { refusals: await this.poller.recentRefusals(n) };
  }
}
