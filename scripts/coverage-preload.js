/**
 * Loaded into every node process of a coverage run (`node scripts/coverage.js` puts it in
 * NODE_OPTIONS as `--require`). It acts only in the farm's app processes (`dist/...` scripts)
 * while NODE_V8_COVERAGE is set, and adds one thing to them: on SIGWINCH it writes the V8
 * coverage gathered so far (`v8.takeCoverage()`, which also resets the counters, so the final
 * write at exit holds only what ran after) and then a marker file `flushed-<pid>` beside it.
 *
 * Why: the integration tests' teardown (`TestFarm.cleanup`) ends every app process with
 * SIGKILL, and a SIGKILLed process writes no coverage. The teardown therefore sends SIGWINCH
 * first and waits for the marker (`AppProcess.flushCoverage`, in
 * libs/common/src/testing/coverage-flush.ts). Crashes inside tests (`stop('SIGKILL')`) stay
 * immediate: those processes' coverage is lost, as the tests' timing must not change.
 * SIGWINCH is free: its default action is to do nothing, and NestJS's shutdown hooks do not
 * listen to it (they do listen to SIGUSR2). Outside coverage runs nothing of this is loaded.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');
const v8 = require('node:v8');

const DIST = path.join(__dirname, '..', 'dist') + path.sep;

/** Whether this process runs one of the farm's built entry points (an app under dist/). */
function isFarmApp() {
  const main = process.argv[1];
  return typeof main === 'string' && path.resolve(main).startsWith(DIST);
}

/** Writes the coverage so far and the marker that tells the test harness it is on disk. */
function flushCoverage(dir) {
  try {
    v8.takeCoverage();
    fs.writeFileSync(path.join(dir, `flushed-${process.pid}`), '');
  } catch (err) {
    process.stderr.write(`coverage-preload: could not write coverage: ${err && err.message}\n`);
  }
}

const dir = process.env.NODE_V8_COVERAGE;
if (dir && isFarmApp()) {
  process.on('SIGWINCH', () => flushCoverage(dir));
}
