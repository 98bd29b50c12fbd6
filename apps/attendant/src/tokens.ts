export const ATTENDANT_ENV = Symbol('ATTENDANT_ENV');
export const ATTENDANT_CONFIG = Symbol('ATTENDANT_CONFIG');
