import { ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { EventLoopMeter } from '../http/in-flight';
import { REPO_ROOT } from './farm-process';

/**
 * A monitored application with a real CPU hog: a process of its own that answers
 * `GET /v1/health/load` like a farm app, with its event loop's utilisation measured by the meter
 * the farm's apps use, and that burns CPU in its event loop (90 ms busy of every ~95) between
 * SIGUSR1 and SIGUSR2. A test drives it through `CpuHogApp`; run as a script, it serves.
 */
export class CpuHogApp {
  url = '';
  private proc?: ChildProcess;

  get loadUrl(): string {
    return `${this.url}/v1/health/load`;
  }

  async start(): Promise<this> {
    const proc = spawn(process.execPath, [join(REPO_ROOT, 'dist', 'out', 'libs', 'common', 'src', 'testing', 'cpu-hog-app.js')], { stdio: ['ignore', 'pipe', 'inherit'] });
    this.proc = proc;
    const port = await new Promise<number>((resolve, reject) => {
      proc.once('exit', (code) => reject(new Error(`the CPU hog app exited (${code}) before it listened`)));
      proc.stdout?.once('data', (d: Buffer) => resolve(Number(/"port":(\d+)/.exec(d.toString())?.[1])));
    });
    this.url = `http://127.0.0.1:${port}`;
    return this;
  }

  /** Starts (true) or stops (false) burning CPU. */
  burn(on: boolean): void {
    this.proc?.kill(on ? 'SIGUSR1' : 'SIGUSR2');
  }

  async stop(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((r) => p.once('exit', () => r()));
    p.kill('SIGTERM');
    await exited;
  }
}

function serve(): void {
  const meter = new EventLoopMeter().start(200);
  let burning = false;
  const burn = (): void => {
    if (!burning) return;
    const end = Date.now() + 90;
    while (Date.now() < end) {
      // the hog: a busy event loop
    }
    setTimeout(burn, 5);
  };
  process.on('SIGUSR1', () => {
    if (burning) return;
    burning = true;
    burn();
  });
  process.on('SIGUSR2', () => (burning = false));
  process.on('SIGTERM', () => process.exit(0));
  const server = createServer((_req, res) => {
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ inFlight: 0, limit: 100, eventLoopUtilization: meter.utilization }));
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`));
}

if (require.main === module) serve();
