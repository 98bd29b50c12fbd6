/**
 * Default time limit of an integration test (jest 29 takes `testTimeout` only from the root
 * configuration, so the integration project sets it here). Suites whose waits are longer set
 * their own with `jest.setTimeout`, larger than their longest wait.
 */
jest.setTimeout(60_000);
