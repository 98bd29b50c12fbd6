import { All, Controller, Param, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { ApiOkResponse, ApiOperation, ApiParam, ApiServiceUnavailableResponse } from '@nestjs/swagger';
import { AvailabilityGuard, AvailabilityService, PublicRoute, RequiresAvailability, objectSchema } from '@farm/common';

/** The request kind of a demo route: the first path segment after the application, else all kinds. */
export function kindOf(req: Request): string {
  const rest = (req.params as Record<string, string>)[0] ?? '';
  return rest.split('/').filter(Boolean)[0] ?? '*';
}

/**
 * Demo applications hosted by the node: `/apps/mail/send` is application `mail`, request kind
 * `send`. The guard answers 503 with the reason and Retry-After while it is unavailable; the
 * handler stands in for the real work.
 */
@Controller('apps')
@PublicRoute() // the applications' own users: the farm's tokens are for its operators
@UseGuards(AvailabilityGuard)
export class DemoController {
  constructor(private readonly availability: AvailabilityService) {}

  @All(':application{/*path}')
  @ApiOperation({
    summary: 'A demo application\'s request',
    description: 'Any method; `/apps/{application}` alone (no kind: only outages for all kinds refuse it) and deeper paths are served too. Stands in for the real work once the availability guard lets it through.',
  })
  @ApiParam({ name: 'application', example: 'mail' })
  @ApiParam({ name: 'path', description: 'The request kind, then anything.', example: 'send' })
  @ApiOkResponse({ schema: objectSchema({ application: { type: 'string' }, kind: { type: 'string' }, servedBy: { type: 'string' }, ok: { type: 'boolean' }, at: { type: 'string' } }) })
  @ApiServiceUnavailableResponse({ description: 'The application is unavailable for this kind: the lookup\'s JSON (reason, message, expectedUpAt...), with `Retry-After`.', schema: { type: 'object' } })
  @RequiresAvailability((req) => (req.params as Record<string, string>).application, kindOf)
  serve(@Param('application') application: string, @Req() req: Request): Record<string, unknown> {
    return { application, kind: kindOf(req), servedBy: this.availability.nodeId, ok: true, at: new Date().toISOString() };
  }
}
