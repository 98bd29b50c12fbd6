import { All, Controller, Param, Req, UseGuards } from '@nestjs/common';
import type { Request } from 'express';
import { AvailabilityGuard, AvailabilityService, PublicRoute, RequiresAvailability } from '@farm/common';

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
  @RequiresAvailability((req) => (req.params as Record<string, string>).application, kindOf)
  serve(@Param('application') application: string, @Req() req: Request): Record<string, unknown> {
    return { application, kind: kindOf(req), servedBy: this.availability.nodeId, ok: true, at: new Date().toISOString() };
  }
}
