import 'reflect-metadata';
import { RepeaterEnv, bootstrapHttp } from '@farm/common';
import { RepeaterModule } from './repeater.module';

void bootstrapHttp('repeater', RepeaterEnv, (env) => RepeaterModule.forRoot(env), { transport: true });
