export * from './tokens';
export * from './keyring';
export * from './command-signature';
export * from './token-store';
export * from './operator.guard';
export * from './command-verifier';
export * from './farm-auth';
export * from './dev-credentials';
