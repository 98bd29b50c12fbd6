import 'reflect-metadata';
import { NotifierEnv, bootstrapHttp } from '@farm/common';
import { NotifierModule } from './notifier.module';

void bootstrapHttp('notifier', NotifierEnv, (env) => NotifierModule.forRoot(env));
