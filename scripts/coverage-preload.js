/**
 * Coverage of the farm's own processes in a coverage run. `node scripts/coverage.js` sets
 * FARM_COVERAGE_DIR and puts this file in NODE_OPTIONS (`--require`), so every node process of
 * the run loads it; it acts only in processes that run this repository's code (an app from
 * dist/, `bin/farmctl.js`), not in jest or npm.
 *
 * There it starts V8 precise (block) coverage before the app's code loads, and writes what ran
 * as lines of `<FARM_COVERAGE_DIR>/proc-<pid>-<start>.jsonl`, each line the V8 coverage since
 * the previous one (taking coverage resets V8's counters, so the lines add up), keeping only
 * the scripts under dist/out. It writes a line:
 * - every FLUSH_EVERY_MS, so a process killed with SIGKILL (a crash in a test) loses at most
 *   that much: SIGKILL leaves no chance to write anything;
 * - on SIGWINCH, then creates `flushed-<pid>`: the test farm's teardown asks for this before it
 *   SIGKILLs the processes (`AppProcess.flushCoverage`). SIGWINCH does nothing by default and
 *   NestJS's shutdown hooks do not listen to it (they do listen to SIGUSR2);
 * - when the process ends itself: on exit, and before it re-raises a signal at itself (NestJS's
 *   shutdown hooks end a SIGTERM that way, which skips 'exit' and NODE_V8_COVERAGE's own write).
 */
'use strict';
const fs = require('node:fs');
const inspector = require('node:inspector');
const path = require('node:path');
const { pathToFileURL } = require('node:url');

const ROOT = path.join(__dirname, '..');
const FLUSH_EVERY_MS = 1000;
const DIST_URL = pathToFileURL(path.join(ROOT, 'dist', 'out')).href + '/';

/** Whether this process runs this repository's code (not jest, npm or another tool). */
function runsFarmCode() {
  const main = process.argv[1];
  if (typeof main !== 'string') return false;
  const rel = path.relative(ROOT, path.resolve(main));
  return !rel.startsWith('..') && !path.isAbsolute(rel) && !rel.startsWith('node_modules');
}

/** Starts precise coverage and returns a function that appends what ran since the last call. */
function startCoverage(dir) {
  const session = new inspector.Session();
  session.connect();
  session.post('Profiler.enable');
  session.post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
  const file = path.join(dir, `proc-${process.pid}-${Date.now()}.jsonl`);
  // The inspector answers synchronously, so this also works in 'exit' handlers.
  return function flush() {
    try {
      session.post('Profiler.takePreciseCoverage', (err, res) => {
        if (err) throw err;
        const ours = res.result.filter((script) => script.url.startsWith(DIST_URL));
        if (ours.length) fs.appendFileSync(file, `${JSON.stringify({ result: ours })}\n`);
      });
    } catch (err) {
      process.stderr.write(`coverage-preload: could not write coverage: ${err && err.message}\n`);
    }
  };
}

/** Writes coverage before the process signals itself (it may die of that signal). */
function flushBeforeSelfSignal(flush) {
  const kill = process.kill;
  process.kill = function killFlushingFirst(pid, signal) {
    if (Number(pid) === process.pid) flush();
    return kill.call(process, pid, signal);
  };
}

const dir = process.env.FARM_COVERAGE_DIR;
if (dir && runsFarmCode()) {
  fs.mkdirSync(dir, { recursive: true });
  const flush = startCoverage(dir);
  setInterval(flush, FLUSH_EVERY_MS).unref();
  process.on('exit', flush);
  process.on('SIGWINCH', () => {
    flush();
    fs.writeFileSync(path.join(dir, `flushed-${process.pid}`), '');
  });
  flushBeforeSelfSignal(flush);
}
