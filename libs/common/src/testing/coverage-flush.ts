import { ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
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
 * In a coverage run (FARM_COVERAGE_DIR set, see scripts/coverage.js), asks an app process that
 * a teardown is about to SIGKILL to write its V8 coverage first, since SIGKILL loses what ran
 * since the last periodic write: sends SIGWINCH (scripts/coverage-preload.js answers it) and
 * waits up to `timeoutMs` for the marker file. A stopped (SIGSTOP) or exited process is
 * skipped. Outside coverage runs it does nothing. Bounded well under jest's default hook
 * timeout (5 s): a slow answer only loses a little coverage.
 */
export async function flushCoverageBeforeKill(p: ChildProcess, timeoutMs = 2500): Promise<void> {
  const dir = process.env.FARM_COVERAGE_DIR;
  const pid = p.pid;
  if (!dir || pid === undefined || p.exitCode !== null || p.signalCode !== null || isStopped(pid)) return;
  const marker = join(dir, `flushed-${pid}`);
  rmSync(marker, { force: true });
  p.kill('SIGWINCH');
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(marker) && Date.now() < deadline && p.exitCode === null && p.signalCode === null) {
    await new Promise((r) => setTimeout(r, 10));
  }
}
