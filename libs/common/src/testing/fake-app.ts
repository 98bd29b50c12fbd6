import { Server, ServerResponse, createServer } from 'node:http';
import { AddressInfo } from 'node:net';

/**
 * A monitored application whose load a test or benchmark sets: it answers `GET /v1/health/load`
 * like a farm app (`inFlight` of a limit of 100, an idle event loop), and `GET /work`, which
 * hangs while it is overloaded (inFlight >= 80), as a real server's requests time out.
 */
export class FakeApp {
  inFlight = 10;
  url = '';
  private server?: Server;
  private readonly hanging = new Set<ServerResponse>();

  /** Where the attendant reads its load. */
  get loadUrl(): string {
    return `${this.url}/v1/health/load`;
  }

  async start(): Promise<this> {
    this.server = createServer((req, res) => {
      if (req.url === '/work') {
        if (this.inFlight < 80) return void res.end('ok');
        this.hanging.add(res);
        res.once('close', () => this.hanging.delete(res));
        return;
      }
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ inFlight: this.inFlight, limit: 100, eventLoopUtilization: 0 }));
    });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    return this;
  }

  stop(): Promise<void> {
    for (const r of this.hanging) r.destroy();
    return new Promise((r) => (this.server ? this.server.close(() => r()) : r()));
  }
}
