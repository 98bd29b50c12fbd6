import type * as amqp from 'amqplib';

/**
 * A message with its own AMQP properties (priority, messageId, timestamp...), for
 * `FarmClient.emit(pattern, new FarmRecord(data, properties))`; plain data goes with the
 * client's default properties.
 */
export class FarmRecord<T = unknown> {
  constructor(
    readonly data: T,
    readonly properties: amqp.Options.Publish = {},
  ) {}
}
