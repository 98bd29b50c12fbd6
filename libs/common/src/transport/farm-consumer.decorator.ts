import { Controller, UseFilters, applyDecorators } from '@nestjs/common';
import { KeepErrorsFilter } from './keep-errors.filter';

/**
 * A controller of farm-transport handlers (`@EventPattern`, `@MessagePattern`): a Nest
 * controller whose handlers' errors reach the transport unchanged, so it can dead-letter poison
 * and retry trouble (see FarmServer).
 */
export function FarmConsumer(): ClassDecorator {
  return applyDecorators(Controller(), UseFilters(KeepErrorsFilter));
}
