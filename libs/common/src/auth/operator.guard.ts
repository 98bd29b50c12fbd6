import { CanActivate, ExecutionContext, Inject, Injectable, Optional, SetMetadata, createParamDecorator } from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { Request } from 'express';
import { AccessDeniedError } from '../domain/errors';
import { CommandHead, SIGNATURE_HEADER, httpCommandBody } from './command-signature';
import { CommandVerifier } from './command-verifier';
import { Scope, TokenEntry, authorize } from './tokens';

/** How a process checks its HTTP callers (see OperatorGuard). */
export interface OperatorAuth {
  /** `off` only with FARM_AUTH=off: every route open (development). */
  mode: 'on' | 'off';
  /** FARM_PUBLIC_READS=true: routes that need only `read` are open. */
  publicReads: boolean;
  /** The current token entries (reloaded by a TokenStore). */
  tokens: () => readonly TokenEntry[];
}
export const OPERATOR_AUTH = Symbol('OPERATOR_AUTH');
/** The process's CommandVerifier, where it receives signed commands. */
export const COMMAND_VERIFIER = Symbol('COMMAND_VERIFIER');

const SCOPE_KEY = 'farm:scope';
const PUBLIC_KEY = 'farm:public';
const COMMAND_KEY = 'farm:command';

/** The scope a route needs (otherwise: `read` for GET and HEAD, `admin` for anything else). */
export const RequiresScope = (scope: Scope) => SetMetadata(SCOPE_KEY, scope);
/** A route open to anyone, always: liveness and readiness. */
export const PublicRoute = () => SetMetadata(PUBLIC_KEY, true);
/**
 * A route our own processes call: besides an operator token with its scope, it accepts a
 * command signed with the farm's keyring for `command` (the `farm-signature` header over the
 * request's query and JSON body; see `httpCommandBody`).
 */
export const FarmCommand = (command: string) => SetMetadata(COMMAND_KEY, command);

/** A request OperatorGuard let in on a signed command carries the command's verified head. */
export interface SignedRequest extends Request {
  farmCommand?: CommandHead;
}

/**
 * The verified sender of the signed command a route was called with (`from=` of its header, as
 * the signature proved it); undefined when the caller came with an operator token, or with
 * FARM_AUTH=off.
 */
export const CommandSender = createParamDecorator((_: unknown, ctx: ExecutionContext): string | undefined => ctx.switchToHttp().getRequest<SignedRequest>().farmCommand?.sender);

/** The scope a request needs when its route says nothing: reads need `read`, every state change `admin`. */
export function defaultScope(method: string): Scope {
  return method === 'GET' || method === 'HEAD' ? 'read' : 'admin';
}

/** What a route asks of its callers, as the guard reads it (and the OpenAPI document describes it). */
export interface RouteAccess {
  /** `@PublicRoute()`: open to anyone. */
  open: boolean;
  /** The scope an operator token needs (none is needed when `open`). */
  scope: Scope;
  /** `@FarmCommand`: the command a signed request must be signed for. */
  command?: string;
}

/** Reads a route's access from its handler and controller (the handler's marks win), for a request `method`. */
export function routeAccess(reflector: Reflector, handler: object, controller: object, method: string): RouteAccess {
  const targets = [handler, controller] as Parameters<Reflector['getAllAndOverride']>[1];
  return {
    open: reflector.getAllAndOverride<boolean>(PUBLIC_KEY, targets) === true,
    scope: reflector.getAllAndOverride<Scope>(SCOPE_KEY, targets) ?? defaultScope(method.toUpperCase()),
    command: reflector.getAllAndOverride<string>(COMMAND_KEY, targets) ?? undefined,
  };
}

/**
 * The HTTP side of "every state change needs a credential": each request carries an operator
 * token (`Authorization: Bearer`) whose entry grants the route's scope, or, on a route marked
 * `@FarmCommand`, a signed command from one of our processes (its verified head is then attached
 * to the request, for `@CommandSender()`); otherwise it is refused with 401
 * (none, not known, or a bad signature) or 403 (lacks the scope), with a JSON body saying which.
 * Messages are not its concern (they are checked by their consumers): it passes any non-HTTP context.
 */
@Injectable()
export class OperatorGuard implements CanActivate {
  constructor(
    private readonly reflector: Reflector,
    @Inject(OPERATOR_AUTH) private readonly auth: OperatorAuth,
    @Optional() @Inject(COMMAND_VERIFIER) private readonly verifier?: CommandVerifier,
  ) {}

  async canActivate(context: ExecutionContext): Promise<boolean> {
    if (context.getType() !== 'http' || this.auth.mode === 'off') return true;
    const req = context.switchToHttp().getRequest<Request>();
    const { open, scope, command } = routeAccess(this.reflector, context.getHandler(), context.getClass(), req.method);
    if (open) return true;
    const signature = req.headers[SIGNATURE_HEADER];
    if (command && typeof signature === 'string' && !req.headers.authorization) return this.checkSignature(req, command, signature);
    if (scope === 'read' && this.auth.publicReads) return true;
    const d = authorize(this.auth.tokens(), req.headers.authorization, scope);
    if (d.ok) return true;
    throw new AccessDeniedError(d.status, d.reason, d.message);
  }

  private async checkSignature(req: Request, command: string, signature: string): Promise<boolean> {
    if (!this.verifier) throw new AccessDeniedError(401, 'unsigned-route', 'this process takes no signed commands; use an operator token');
    const v = await this.verifier.verify(signature, command, httpCommandBody(req.query as Record<string, unknown>, req.body));
    if (v.ok) {
      (req as SignedRequest).farmCommand = v.head;
      return true;
    }
    throw new AccessDeniedError(401, `signature-${v.reason}`, `signed command refused (${v.reason}): ${v.message}`);
  }
}
