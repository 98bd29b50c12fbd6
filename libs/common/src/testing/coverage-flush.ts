import { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Whether Linux reports the process as stopped (SIGSTOP): it could not answer a signal now. */
function isStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state === 'T' || state === 't';
  } catch {
    return false;
  }
}

/**
 * In a coverage run (NODE_V8_COVERAGE set, see scripts/coverage.js), asks an app process that
 * is about to be SIGKILLed to write its V8 coverage first, since SIGKILL loses it: sends
 * SIGWINCH (scripts/coverage-preload.js answers it) and waits up to `timeoutMs` for the marker
 * file. A stopped process is skipped (its run is lost). Outside coverage runs it does nothing,
 * so the tests' crashes stay immediate.
 */
export async function flushCoverageBeforeKill(p: ChildProcess, timeoutMs = 2000): Promise<void> {
  const dir = process.env.NODE_V8_COVERAGE;
  const pid = p.pid;
  if (!dir || pid === undefined || p.exitCode !== null || p.signalCode !== null || isStopped(pid)) return;
  const marker = join(dir, `flushed-${pid}`);
  p.kill('SIGWINCH');
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(marker) && Date.now() < deadline && p.exitCode === null && p.signalCode === null) {
    await new Promise((r) => setTimeout(r, 10));
  }
}
