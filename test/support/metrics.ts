/** Fetches a process's Prometheus page; fails on anything that is not one (a 0 read from an error page would prove nothing). */
export async function metricsPage(p: { url: string; auth(): Record<string, string> }): Promise<string> {
  const text = await (await fetch(`${p.url}/metrics`, { headers: p.auth() })).text();
  if (!text.includes('# TYPE farm_')) throw new Error(`no metrics at ${p.url}/metrics: ${text.slice(0, 200)}`);
  return text;
}

/** Sum of a counter's series whose labels start with `labels` (0 when no such series was ever counted). */
export function counter(metrics: string, name: string, labels = ''): number {
  const line = new RegExp(`^${name}(\\{${labels}[^}]*\\})? (\\d+)$`, 'gm');
  return [...metrics.matchAll(line)].reduce((sum, m) => sum + Number(m[2]), 0);
}
