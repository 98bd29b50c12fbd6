/** The pure core of load-aware failover (issue 12): score, zones, deferral, alternates, reconnection, messages, restarts, config. */
export * from './load-score';
export * from './zones';
export * from './deferral';
export * from './alternates';
export * from './reconnection';
export * from './failover-message';
export * from './restart-limit';
export * from './failover-config';
export * from './failover-client';
