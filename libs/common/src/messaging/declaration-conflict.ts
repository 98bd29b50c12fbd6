/**
 * RabbitMQ refuses to declare a queue or exchange that exists with other arguments (406
 * PRECONDITION_FAILED "inequivalent arg"). That is not the broker being away: retrying fast cannot
 * help, and "not reachable" would send the operator the wrong way. This reads the broker's
 * message into what an operator needs: which queue or exchange, which argument, both values.
 * Pure.
 */
export interface DeclarationConflict {
  kind: 'queue' | 'exchange';
  name: string;
  vhost: string;
  argument: string;
  /** What this process declares (as the broker words it, e.g. `the value '9' of type 'signedint'`). */
  ours: string;
  /** What the broker has (`none` when the existing one lacks the argument). */
  theirs: string;
}

const INEQUIVALENT = /inequivalent arg '([^']+)' for (queue|exchange) '([^']*)' in vhost '([^']*)': received (.+?) but current is (.+?)"?$/;

/** The conflict an error from the broker names, if it is one. */
export function parseDeclarationConflict(message: string): DeclarationConflict | undefined {
  const m = INEQUIVALENT.exec(message.trim());
  if (!m) return undefined;
  const [, argument, kind, name, vhost, ours, theirs] = m;
  return { kind: kind as 'queue' | 'exchange', name, vhost, argument, ours: ours.replace(/^the value /, ''), theirs: theirs.replace(/^the value /, '') };
}

/** One sentence for the log: what clashes and what to do. */
export function describeConflict(c: DeclarationConflict, retryMs: number): string {
  return `the broker already has ${c.kind} '${c.name}' (vhost '${c.vhost}') declared with other arguments: ${c.argument} is ${c.theirs} there, this version declares ${c.ours}. `
    + `This is not an outage: it is an older topology, or another program using the name. Delete or drain the ${c.kind} (rabbitmqctl delete_queue, or the management UI), `
    + `or run this process in another FARM_NAMESPACE; it tries again every ${Math.round(retryMs / 1000)} s meanwhile.`;
}
