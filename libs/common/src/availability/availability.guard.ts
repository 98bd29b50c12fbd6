import { CanActivate, ExecutionContext, HttpException, HttpStatus, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request, Response } from 'express';
import { Decision } from '../domain/lookup';
import { ALL_KINDS } from '../domain/notification';
import { AvailabilityService } from './availability.service';

export const REQUIRES_AVAILABILITY = 'farm:requires-availability';

export interface AvailabilityRequirement {
  /** The application, or a function of the request (e.g. a route parameter). */
  application: string | ((req: Request) => string);
  kind?: string | ((req: Request) => string);
}

/** Marks a handler (or controller) as serving an application: refused fast while it is unavailable. */
export const RequiresAvailability = (application: AvailabilityRequirement['application'], kind?: AvailabilityRequirement['kind']): MethodDecorator & ClassDecorator =>
  SetMetadata(REQUIRES_AVAILABILITY, { application, kind } satisfies AvailabilityRequirement);

/** Seconds until the expected return, for `Retry-After` (at least 1). */
export function retryAfterSeconds(d: Decision, now = Date.now()): number | undefined {
  if (!d.expectedUpAt) return undefined;
  return Math.max(1, Math.ceil((Date.parse(d.expectedUpAt) - now) / 1000));
}

export class UnavailableException extends HttpException {
  constructor(application: string, kind: string, decision: Decision) {
    super({ target: application, kind, ...decision }, HttpStatus.SERVICE_UNAVAILABLE);
  }
}

/**
 * Answers 503 with the lookup's JSON and `Retry-After` while the application (or a resource it
 * depends on, or the whole system) is unavailable for this kind of request. No I/O.
 */
@Injectable()
export class AvailabilityGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    private readonly availability: AvailabilityService,
  ) {}

  canActivate(ctx: ExecutionContext): boolean {
    const req = this.reflector.getAllAndOverride<AvailabilityRequirement | undefined>(REQUIRES_AVAILABILITY, [ctx.getHandler(), ctx.getClass()]);
    if (!req) return true;
    const http = ctx.switchToHttp();
    const request = http.getRequest<Request>();
    const application = typeof req.application === 'function' ? req.application(request) : req.application;
    const kind = (typeof req.kind === 'function' ? req.kind(request) : req.kind) || ALL_KINDS;
    const decision = this.availability.check(application, kind);
    if (decision.available) return true;
    const retry = retryAfterSeconds(decision);
    if (retry !== undefined) http.getResponse<Response>().setHeader('Retry-After', String(retry));
    throw new UnavailableException(application, kind, decision);
  }
}
