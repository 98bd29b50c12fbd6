import type { QueueForm } from '../messaging/farm-topology';

/**
 * What this node last learnt of its queues' forms: `<ns>.ingress` (shared) and its own
 * `<ns>.node.<id>`. Set on every connection by the declarations; a `legacy` one is drained and
 * replaced by QueueUpgradeService, which sets it back to `current`.
 */
export class QueueForms {
  ingress: QueueForm = 'current';
  node: QueueForm = 'current';

  get legacy(): ('ingress' | 'node')[] {
    return (['ingress', 'node'] as const).filter((k) => this[k] === 'legacy');
  }
}
