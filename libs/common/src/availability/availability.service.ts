import { Inject, Injectable } from '@nestjs/common';
import { NodeEnv } from '../config/repeater.env';
import { AvailabilityState } from '../domain/availability-state';
import { Decision } from '../domain/lookup';
import { ALL_KINDS } from '../domain/notification';
import { AVAILABILITY_STATE, NODE_ENV } from './tokens';

/**
 * The synchronous face of a node for request handlers: `check(application, kind)` answers from
 * the in-process cache, with no I/O.
 */
@Injectable()
export class AvailabilityService {
  constructor(
    @Inject(AVAILABILITY_STATE) readonly state: AvailabilityState,
    @Inject(NODE_ENV) readonly env: NodeEnv,
  ) {}

  get nodeId(): string {
    return this.env.NODE_ID;
  }

  check(application: string, kind: string = ALL_KINDS): Decision {
    return this.state.check(application, kind);
  }

  isAvailable(application: string, kind: string = ALL_KINDS): boolean {
    return this.state.check(application, kind).available;
  }
}
