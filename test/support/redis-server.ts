/** The test's own redis-server lives with the other testing helpers (the benchmarks use it too). */
export { TestRedis } from '../../libs/common/src/testing/redis-server';
