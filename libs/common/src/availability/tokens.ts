/** Injection tokens of the availability module. */
export const NODE_ENV = Symbol('NODE_ENV');
export const AMQP_CLIENT = Symbol('AMQP_CLIENT');
export const REDIS = Symbol('REDIS');
export const AVAILABILITY_STATE = Symbol('AVAILABILITY_STATE');

/** The server's corrected clock (a ClockFollower), shared by whatever stamps notifications. */
export const FARM_CLOCK = Symbol('FARM_CLOCK');

/** The forms of the shared and own queues as the broker holds them (QueueForms). */
export const QUEUE_FORMS = Symbol('QUEUE_FORMS');
