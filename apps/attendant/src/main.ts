import 'reflect-metadata';
import { AttendantEnv, bootstrapHttp } from '@farm/common';
import { AttendantModule } from './attendant.module';

void bootstrapHttp('attendant', AttendantEnv, (env) => AttendantModule.forRoot(env), { transport: true });
