import type { NextFunction, Request, Response } from 'express';

/**
 * The requests a process serves at once, and its limit: a request beyond `HTTP_MAX_IN_FLIGHT` is
 * answered 503 with `Retry-After` at once instead of queueing behind the others. The count and
 * the limit are what a monitoring attendant reads as "busy vs maximum workers" (with the event
 * loop's utilisation, see EventLoopMeter). Probes, scrapes, API pages and live feeds are neither
 * counted nor refused: they must answer when the process is busiest, and a feed is open for hours.
 */
export class InFlightLimiter {
  current = 0;
  /** Requests refused because the limit was reached, since start. */
  shed = 0;

  constructor(
    readonly limit: number,
    private readonly onShed: () => void = () => undefined,
    private readonly exempt: (path: string) => boolean = isLightPath,
  ) {}

  readonly middleware = (req: Request, res: Response, next: NextFunction): void => {
    if (this.exempt(req.path)) return next();
    if (this.current >= this.limit) {
      this.shed++;
      this.onShed();
      res.setHeader('Retry-After', '1');
      res.status(503).json({ error: 'overloaded', message: `this process serves at most ${this.limit} requests at once (HTTP_MAX_IN_FLIGHT); try again shortly`, limit: this.limit });
      return;
    }
    this.current++;
    let open = true;
    const end = (): void => {
      if (!open) return;
      open = false;
      this.current--;
    };
    res.once('finish', end);
    res.once('close', end);
    next();
  };
}

/** Routes that never count towards the limit: health probes, metrics, buddy pings, API pages, live feeds. */
export function isLightPath(path: string): boolean {
  return path.startsWith('/v1/health') || path === '/metrics' || path === '/v1/ring/ping' || path === '/v1/events' || path === '/openapi.json' || path === '/docs' || path.startsWith('/docs/');
}

/**
 * The event loop's utilisation (0-1: the share of time it was busy) over the last complete
 * window, measured with `performance.eventLoopUtilization`; the timer does not keep the process
 * alive.
 */
export class EventLoopMeter {
  private timer?: NodeJS.Timeout;
  private last = performance.eventLoopUtilization();
  /** Utilisation over the last window (0 until the first one closes). */
  utilization = 0;

  start(windowMs = 1000, onWindow?: (u: number) => void): this {
    this.timer = setInterval(() => {
      const now = performance.eventLoopUtilization();
      this.utilization = performance.eventLoopUtilization(now, this.last).utilization;
      this.last = now;
      onWindow?.(this.utilization);
    }, windowMs);
    this.timer.unref();
    return this;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
