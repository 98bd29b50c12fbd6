/** One event of the poller's live feed, with when the test saw it. */
export type FeedEvent = {
  at: number;
  event: string;
  data: { serverId?: string; list?: string; deficiencies?: { kind: string }[]; target?: string; available?: boolean; id?: string; receiver?: string; command?: string; reason?: string; message?: string; claimedSender?: string; service?: string; outcome?: string };
};

/** Reads the poller's live feed (`GET /v1/events`) into a list of timestamped events until closed. */
export class Feed {
  readonly events: FeedEvent[] = [];
  private readonly controller = new AbortController();
  private done?: Promise<void>;

  async open(url: string, headers: Record<string, string>): Promise<void> {
    const res = await fetch(`${url}/v1/events`, { headers, signal: this.controller.signal });
    const reader = res.body!.getReader();
    this.done = (async () => {
      let buf = '';
      try {
        for (;;) {
          const { value, done } = await reader.read();
          if (done) return;
          buf += Buffer.from(value).toString('utf8');
          let cut: number;
          while ((cut = buf.indexOf('\n\n')) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            const event = /^event: (.*)$/m.exec(block)?.[1];
            const data = /^data: (.*)$/m.exec(block)?.[1];
            if (event && data) this.events.push({ at: Date.now(), event, data: JSON.parse(data) as FeedEvent['data'] });
          }
        }
      } catch {
        /* closed */
      }
    })();
  }

  async close(): Promise<void> {
    this.controller.abort();
    await this.done;
  }
}
