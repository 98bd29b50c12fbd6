export * from './log-text';
export * from './log-context';
export * from './farm-logger';
