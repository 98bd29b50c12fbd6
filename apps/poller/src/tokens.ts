export const POLLER_ENV = Symbol('POLLER_ENV');
