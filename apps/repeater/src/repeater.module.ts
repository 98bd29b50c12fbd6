import { DynamicModule, Module } from '@nestjs/common';
import { AvailabilityModule, RepeaterEnv } from '@farm/common';
import { DemoController } from './demo/demo.controller';
import { AvailabilityController } from './http/availability.controller';
import { HealthController } from './http/health.controller';
import { repeaterHealth } from './http/health-checks';
import { MetricsController } from './http/metrics.controller';
import { RingController } from './http/ring.controller';
import { RouteController } from './http/route.controller';

/** A repeater node: the availability module plus its HTTP API and guarded demo applications. */
@Module({})
export class RepeaterModule {
  static forRoot(env: RepeaterEnv): DynamicModule {
    return {
      module: RepeaterModule,
      imports: [AvailabilityModule.forRoot(env), ...repeaterHealth.imports],
      controllers: [AvailabilityController, HealthController, MetricsController, RingController, RouteController, DemoController, ...repeaterHealth.controllers],
      providers: [...repeaterHealth.providers],
    };
  }
}
