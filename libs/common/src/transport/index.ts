export * from './farm-context';
export * from './farm-server';
export * from './farm-client';
export * from './keep-errors.filter';
export * from './farm-consumer.decorator';
export * from './json-body.pipe';
export * from './farm-record';
