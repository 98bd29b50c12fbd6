import type { Server } from 'node:http';

/** How long requests under way at shutdown may take before their connections are cut. */
export const HTTP_CLOSE_GRACE_MS = 3000;
const IDLE_SWEEP_MS = 50;

/**
 * Makes `server.close()` finish even while clients keep connections alive and busy.
 *
 * Node's `close()` stops accepting connections and closes the idle ones, but a connection that
 * is serving a request at that moment stays open, keeps taking requests, and holds `close()`
 * for as long as its client keeps sending: a buddy pinging a node every few hundred ms over one
 * keep-alive connection kept a stopping repeater alive until it was killed. After `close()`:
 * every answer says `Connection: close`, idle connections are closed every IDLE_SWEEP_MS (a
 * request under way finishes first), and whatever is still open after `graceMs` is cut.
 */
export function closeGracefully(server: Server, graceMs = HTTP_CLOSE_GRACE_MS): void {
  let closing = false;
  server.prependListener('request', (_req, res) => {
    if (closing && !res.headersSent) res.setHeader('Connection', 'close');
  });
  const close = server.close.bind(server);
  server.close = ((callback?: (err?: Error) => void) => {
    closing = true;
    const sweep = setInterval(() => server.closeIdleConnections(), IDLE_SWEEP_MS);
    const cut = setTimeout(() => server.closeAllConnections(), graceMs);
    sweep.unref();
    cut.unref();
    return close((err?: Error) => {
      clearInterval(sweep);
      clearTimeout(cut);
      callback?.(err);
    });
  }) as Server['close'];
}
