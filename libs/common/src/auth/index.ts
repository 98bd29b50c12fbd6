export * from './tokens';
export * from './keyring';
export * from './command-signature';
