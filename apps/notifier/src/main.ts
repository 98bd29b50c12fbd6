import 'reflect-metadata';
import { NotifierEnv, bootstrapHttp, loadEnv } from '@farm/common';
import { NotifierModule } from './notifier.module';

let env: NotifierEnv;
void bootstrapHttp(
  'notifier',
  () => {
    env = loadEnv(NotifierEnv);
    return NotifierModule.forRoot(env);
  },
  () => env.HTTP_PORT,
);
