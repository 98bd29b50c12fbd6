import { CanActivate, ExecutionContext, Inject, Injectable, SetMetadata } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { AccessDeniedError } from '../domain/errors';
import { Scope, authorize } from './tokens';

/** How a process checks its HTTP callers (see OperatorGuard). */
export interface OperatorAuth {
  /** `off` only with FARM_AUTH=off: every route open (development). */
  mode: 'on' | 'off';
  /** FARM_PUBLIC_READS=true: routes that need only `read` are open. */
  publicReads: boolean;
  /** The current token entries (reloaded by a TokenStore). */
  tokens: () => readonly { name: string; scopes: Scope[]; sha256: string }[];
}
export const OPERATOR_AUTH = Symbol('OPERATOR_AUTH');

const SCOPE_KEY = 'farm:scope';
const PUBLIC_KEY = 'farm:public';

/** The scope a route needs (otherwise: `read` for GET and HEAD, `admin` for anything else). */
export const RequiresScope = (scope: Scope) => SetMetadata(SCOPE_KEY, scope);
/** A route open to anyone, always: liveness and readiness. */
export const PublicRoute = () => SetMetadata(PUBLIC_KEY, true);

/** The scope a request needs when its route says nothing: reads need `read`, every state change `admin`. */
export function defaultScope(method: string): Scope {
  return method === 'GET' || method === 'HEAD' ? 'read' : 'admin';
}

/**
 * The HTTP side of "every state change needs a credential": each request carries an operator
 * token (`Authorization: Bearer`) whose entry grants the route's scope, or is refused with 401
 * (none, or not known) or 403 (lacks the scope), with a JSON body saying which. Messages are not
 * its concern (they are signed, see command-signature.ts): it passes any non-HTTP context.
 */
@Injectable()
export class OperatorGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(OPERATOR_AUTH) private readonly auth: OperatorAuth,
  ) {}

  canActivate(context: ExecutionContext): boolean {
    if (context.getType() !== 'http' || this.auth.mode === 'off') return true;
    const targets = [context.getHandler(), context.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets)) return true;
    const req = context.switchToHttp().getRequest<Request>();
    const scope = this.reflector.getAllAndOverride<Scope>(SCOPE_KEY, targets) ?? defaultScope(req.method);
    if (scope === 'read' && this.auth.publicReads) return true;
    const d = authorize(this.auth.tokens(), req.headers.authorization, scope);
    if (d.ok) return true;
    throw new AccessDeniedError(d.status, d.reason, d.message);
  }
}
