import { AddressInfo, createServer } from 'node:net';
import fc from 'fast-check';
import { SystemSampler, countProcesses, cpuBusyPct, cpuTimes, memPctFromMeminfo, metricValue, peerReachability, serverLoadFrom } from './load-sample';

const SCRAPE = [
  '# HELP farm_http_in_flight HTTP requests being served now',
  '# TYPE farm_http_in_flight gauge',
  'farm_http_in_flight 7',
  'farm_http_in_flight_limit 1000',
  'farm_http_shed_total 3',
  'farm_event_loop_utilization 0.42',
  'farm_messages_received_total{queue="ingress"} 10',
  'farm_messages_received_total{queue="node"} 32',
].join('\n');

describe('server load from a Prometheus scrape', () => {
  it('reads each metric by its exact name, not one whose name starts with it', () => {
    expect(metricValue(SCRAPE, 'farm_http_in_flight')).toBe(7);
    expect(metricValue(SCRAPE, 'farm_http_in_flight_limit')).toBe(1000);
    expect(metricValue(SCRAPE, 'farm_http')).toBeUndefined();
  });

  it('sums the labelled samples of a metric', () => {
    expect(metricValue(SCRAPE, 'farm_messages_received_total')).toBe(42);
  });

  it('gives the farm app\'s load, or nothing when a metric is missing', () => {
    expect(serverLoadFrom(SCRAPE)).toEqual({ inFlight: 7, limit: 1000, eventLoopUtilization: 0.42 });
    expect(serverLoadFrom('farm_http_in_flight 1\n')).toBeUndefined();
    expect(serverLoadFrom('busy 3\nmax 8\nelu 0.5\n', { inFlight: 'busy', limit: 'max', eventLoopUtilization: 'elu' })).toEqual({ inFlight: 3, limit: 8, eventLoopUtilization: 0.5 });
  });
});

describe('system load', () => {
  const cpu = (user: number, idle: number) => ({ times: { user, nice: 0, sys: 0, idle, irq: 0 } });

  it('measures the busy share of the CPUs between two readings', () => {
    const before = cpuTimes([cpu(100, 900), cpu(100, 900)]);
    const after = cpuTimes([cpu(400, 1200), cpu(100, 1500)]);
    expect(cpuBusyPct(before, after)).toBe(25); // 300 ms busy of 1,200 ms
    expect(cpuBusyPct(after, after)).toBe(0);
  });

  it('property: the busy share is always within 0-100', () => {
    fc.assert(fc.property(fc.nat(1e6), fc.nat(1e6), fc.nat(1e6), fc.nat(1e6), (b0, i0, db, di) => {
      const p = cpuBusyPct(cpuTimes([cpu(b0, i0)]), cpuTimes([cpu(b0 + db, i0 + di)]));
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThanOrEqual(100);
    }));
  });

  it('reads memory in use from /proc/meminfo (total minus available), and nothing from a text without them', () => {
    expect(memPctFromMeminfo('MemTotal:       16000000 kB\nMemFree:         1000000 kB\nMemAvailable:    4000000 kB\n')).toBe(75);
    expect(memPctFromMeminfo('MemFree: 10 kB\n')).toBeUndefined();
  });

  it('counts the processes of a /proc listing', () => {
    expect(countProcesses(['1', '23', 'self', 'meminfo', '4567', 'sys'])).toBe(3);
  });

  it('samples this machine: percentages within 0-100 and at least this process', () => {
    const s = new SystemSampler().sample();
    expect(s.cpuPct).toBeGreaterThanOrEqual(0);
    expect(s.cpuPct).toBeLessThanOrEqual(100);
    expect(s.memPct).toBeGreaterThan(0);
    expect(s.memPct).toBeLessThanOrEqual(100);
    if (process.platform === 'linux') expect(s.processes).toBeGreaterThanOrEqual(1);
  });
});

describe('peer reachability', () => {
  it('tells a peer that answers from one that does not', async () => {
    const server = createServer((s) => s.destroy());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const open = (server.address() as AddressInfo).port;
    const closed = await new Promise<number>((r) => {
      const probe = createServer();
      probe.listen(0, '127.0.0.1', () => {
        const p = (probe.address() as AddressInfo).port;
        probe.close(() => r(p));
      });
    });
    try {
      const r = await peerReachability([`127.0.0.1:${open}`, `127.0.0.1:${closed}`, 'no-port'], 1000);
      expect(r).toEqual({ total: 3, unreachable: [`127.0.0.1:${closed}`, 'no-port'] });
    } finally {
      server.close();
    }
  });
});
