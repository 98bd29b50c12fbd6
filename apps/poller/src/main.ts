import 'reflect-metadata';
import { PollerEnv, bootstrapHttp } from '@farm/common';
import { PollerModule } from './poller.module';

void bootstrapHttp('poller', PollerEnv, (env) => PollerModule.forRoot(env));
