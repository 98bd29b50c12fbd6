import 'reflect-metadata';
import { RepeaterEnv, bootstrapHttp, loadEnv } from '@farm/common';
import { RepeaterModule } from './repeater.module';

let env: RepeaterEnv;
void bootstrapHttp(
  'repeater',
  () => {
    env = loadEnv(RepeaterEnv);
    return RepeaterModule.forRoot(env);
  },
  () => env.HTTP_PORT,
);
