import { readFileSync, statSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { ConfigError } from '../domain/errors';
import { LoggerLike } from '../logging/log-text';
import { TokenEntry, parseTokenFile } from './tokens';

/**
 * The operator tokens of FARM_TOKENS_FILE, read at start (a missing or invalid file stops the
 * process with a ConfigError) and again when the file changes or the process gets SIGHUP. A
 * reload that finds the file broken keeps the tokens it had and says why; only names and counts
 * are logged, never a hash.
 */
export class TokenStore {
  private current: readonly TokenEntry[];
  /** The file as it was when last read: a change is judged against it, not against the watcher's first look. */
  private loaded?: { mtimeMs: number; size: number; ino: number };
  private timer?: NodeJS.Timeout;
  private readonly onHangup = (): void => void this.reload('SIGHUP');

  constructor(
    readonly path: string,
    private readonly log: LoggerLike,
  ) {
    this.current = this.read();
  }

  entries(): readonly TokenEntry[] {
    return this.current;
  }

  /** Reads the file again; keeps the old entries when it cannot. Returns whether it took the new ones. */
  reload(why: string): boolean {
    try {
      const next = this.read();
      this.current = next;
      this.log.log(`operator tokens reloaded (${why}): ${next.length} (${next.map((e) => e.name).join(', ') || 'none'})`);
      return true;
    } catch (err) {
      this.log.error(`operator tokens not reloaded (${why}), keeping the ${this.current.length} loaded before: ${(err as Error).message}`);
      return false;
    }
  }

  /**
   * Reloads on a change of the file (its size, time or inode, against the file as last read,
   * checked every `intervalMs`; an editor's rename counts) and on SIGHUP, until `close()`.
   */
  watch(intervalMs = 1000): void {
    if (this.timer) return;
    let checking = false;
    this.timer = setInterval(() => {
      if (checking) return;
      checking = true;
      void stat(this.path)
        .then((now) => {
          const was = this.loaded;
          if (!was || now.mtimeMs !== was.mtimeMs || now.size !== was.size || now.ino !== was.ino) this.reload('file changed');
        })
        .catch(() => undefined) // gone for a moment (being replaced): the next check sees the new one
        .finally(() => (checking = false));
    }, intervalMs);
    this.timer.unref();
    process.on('SIGHUP', this.onHangup);
  }

  close(): void {
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    process.off('SIGHUP', this.onHangup);
  }

  private read(): TokenEntry[] {
    let text: string;
    try {
      const st = statSync(this.path);
      this.loaded = { mtimeMs: st.mtimeMs, size: st.size, ino: st.ino };
      text = readFileSync(this.path, 'utf8');
    } catch (err) {
      throw new ConfigError(`FARM_TOKENS_FILE ${this.path} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); create one with farmctl token create`);
    }
    return parseTokenFile(text, `FARM_TOKENS_FILE ${this.path}`);
  }
}
