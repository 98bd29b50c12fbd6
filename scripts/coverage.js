#!/usr/bin/env node
/**
 * `npm run test:coverage` (and `npm test`): coverage of everything the tests run, in one report.
 *
 * 1. Runs jest (arguments are passed on, e.g. `--runInBand` or a test path) with jest's own
 *    V8 coverage (`--coverage`, settings in jest.config.js): the code that runs inside jest,
 *    i.e. the unit tests and whatever the integration specs import.
 * 2. The same run loads scripts/coverage-preload.js into every node process (NODE_OPTIONS), so
 *    every process the integration tests start (the apps from dist/apps/<app>/main.js,
 *    `bin/farmctl.js`) writes its raw V8 coverage into RAW_DIR/v8 as it runs (see there for
 *    when: every second, on exit, and when the test farm's teardown asks before its SIGKILL).
 * 3. Merges the raw V8 coverage of all processes per compiled script, maps it back to the .ts
 *    sources through tsc's source maps (v8-to-istanbul), merges jest's map in, adds every
 *    measured source file that nothing loaded at 0 %, leaves blank and comment lines out of
 *    the line counts, and writes coverage/ (HTML report
 *    index.html, coverage-summary.json, coverage-final.json, lcov.info). Prints the totals and
 *    the files under LOW_LINES_PCT % of lines.
 *
 * `node scripts/coverage.js --report` only redoes step 3 from the data of the last run.
 * Exits with jest's exit code (a failing test fails the command; the report is written anyway).
 * Build first (`npm run build`): the apps run from dist/ and their source maps are read there.
 */
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');
const { pathToFileURL, fileURLToPath } = require('node:url');
const { mergeScriptCovs } = require('@bcoe/v8-coverage');
const v8ToIstanbul = require('v8-to-istanbul');
const libCoverage = require('istanbul-lib-coverage');
const libReport = require('istanbul-lib-report');
const reports = require('istanbul-reports');

const ROOT = path.join(__dirname, '..');
/** Raw data of a run: the app processes' V8 coverage (v8/) and jest's istanbul map (jest/). */
const RAW_DIR = path.join(ROOT, '.coverage-raw');
const V8_DIR = path.join(RAW_DIR, 'v8');
const JEST_DIR = path.join(RAW_DIR, 'jest');
const REPORT_DIR = path.join(ROOT, 'coverage');
const DIST_OUT = path.join(ROOT, 'dist', 'out');
const PRELOAD = path.join(__dirname, 'coverage-preload.js');
/** Files whose line coverage is below this are listed after the totals. */
const LOW_LINES_PCT = 60;

/**
 * The source files the report covers: every .ts file under apps/ and libs/, except unit specs
 * and the test harness in libs/common/src/testing (it runs only inside jest, to start and
 * drive the farm; it is not part of any app). test/ and bench/ are outside apps/ and libs/.
 */
function isMeasured(file) {
  const rel = path.relative(ROOT, file).split(path.sep).join('/');
  if (!/^(apps|libs)\/.+\.ts$/.test(rel)) return false;
  if (rel.endsWith('.spec.ts') || rel.endsWith('.d.ts')) return false;
  return !rel.startsWith('libs/common/src/testing/');
}

/** Every measured source file in the tree. */
function measuredFiles() {
  const out = [];
  const walk = (dir) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (isMeasured(full)) out.push(full);
    }
  };
  for (const top of ['apps', 'libs']) walk(path.join(ROOT, top));
  return out.sort();
}

/** Runs jest with coverage on, and the preload for the processes it starts; resolves to jest's exit code. */
function runJest(args) {
  fs.rmSync(RAW_DIR, { recursive: true, force: true });
  fs.mkdirSync(V8_DIR, { recursive: true });
  const jestBin = require.resolve('jest/bin/jest');
  const env = {
    ...process.env,
    FARM_COVERAGE_DIR: V8_DIR,
    NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${JSON.stringify(PRELOAD)}`.trim(),
  };
  const jestArgs = ['--coverage', `--coverageDirectory=${JEST_DIR}`, '--coverageReporters=json', ...args];
  console.log(`[coverage] jest ${jestArgs.join(' ')} (child processes write V8 coverage to ${path.relative(ROOT, V8_DIR)})`);
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [jestBin, ...jestArgs], { cwd: ROOT, env, stdio: 'inherit' });
    child.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

/** The compiled app script behind a V8 script URL, when it is one of ours (dist/out/{apps,libs}). */
function distScript(url) {
  if (!url.startsWith('file://')) return undefined;
  const file = fileURLToPath(url);
  const rel = path.relative(DIST_OUT, file).split(path.sep).join('/');
  return /^(apps|libs)\/.+\.js$/.test(rel) ? file : undefined;
}

/**
 * Reads the raw V8 coverage the app processes wrote (one file per process, one line per write;
 * V8's counters restart after each write, so the lines add up) and merges it per script. A
 * line cut short by a SIGKILL in the middle of a write is skipped.
 */
function mergeRawV8() {
  const byUrl = new Map();
  let lines = 0;
  let processes = 0;
  const names = fs.existsSync(V8_DIR) ? fs.readdirSync(V8_DIR).filter((n) => /^proc-\d+-\d+\.jsonl$/.test(n)) : [];
  for (const name of names) {
    processes += 1;
    for (const line of fs.readFileSync(path.join(V8_DIR, name), 'utf8').split('\n')) {
      if (!line) continue;
      let data;
      try {
        data = JSON.parse(line);
      } catch {
        console.warn(`[coverage] ${name}: skipping a line cut short (the process was killed while writing)`);
        continue;
      }
      lines += 1;
      for (const script of data.result.filter((s) => distScript(s.url))) {
        const prev = byUrl.get(script.url);
        byUrl.set(script.url, prev ? mergeScriptCovs([prev, script]) : script);
      }
    }
  }
  return { scripts: [...byUrl.values()], lines, processes };
}

/** Maps one merged compiled script back to its .ts source through tsc's source map. */
async function toIstanbul(script) {
  const converter = v8ToIstanbul(distScript(script.url), 0);
  await converter.load();
  converter.applyCoverage(script.functions);
  return converter.toIstanbul();
}

/**
 * Zero coverage of a source file nothing loaded: its compiled script as one range never run
 * (v8-to-istanbul zeroes every line for a function named '(empty-report)', as c8 --all does).
 */
async function zeroCoverage(source) {
  const compiled = path.join(DIST_OUT, path.relative(ROOT, source)).replace(/\.ts$/, '.js');
  if (!fs.existsSync(compiled)) return undefined;
  const length = fs.readFileSync(compiled, 'utf8').length;
  return toIstanbul({
    url: pathToFileURL(compiled).href,
    functions: [{ functionName: '(empty-report)', isBlockCoverage: true, ranges: [{ startOffset: 0, endOffset: length, count: 0 }] }],
  });
}

/** One istanbul map: app processes (mapped to .ts), jest's map, and 0 % for files nothing loaded. */
async function buildCoverageMap() {
  const map = libCoverage.createCoverageMap({});
  const raw = mergeRawV8();
  for (const script of raw.scripts) map.merge(await toIstanbul(script));
  const jestFile = path.join(JEST_DIR, 'coverage-final.json');
  const fromJest = fs.existsSync(jestFile);
  if (fromJest) map.merge(JSON.parse(fs.readFileSync(jestFile, 'utf8')));
  map.filter((file) => isMeasured(file));
  for (const source of measuredFiles()) {
    if (map.data[source]) continue;
    const zero = await zeroCoverage(source);
    if (zero) map.merge(zero);
    else console.warn(`[coverage] ${path.relative(ROOT, source)}: no compiled script in dist/ (run npm run build); left out`);
  }
  dropNonCodeLines(map);
  console.log(`[coverage] merged ${raw.lines} V8 coverage writes of ${raw.processes} app processes, ${fromJest ? "jest's map" : "no jest map"}, ${map.files().length} source files`);
  return map;
}

/**
 * Line numbers (1-based) of a source that hold no code: blank lines and lines inside comments.
 * V8 coverage counts every line of a range that ran, comments included; istanbul's own
 * instrumentation counts only code, and so do we, so that a file of long doc comments does not
 * read as better tested than it is.
 */
function nonCodeLines(source) {
  const out = new Set();
  let inComment = false;
  source.split('\n').forEach((raw, i) => {
    let rest = raw.trim();
    if (inComment) {
      const end = rest.indexOf('*/');
      if (end < 0) return out.add(i + 1);
      inComment = false;
      rest = rest.slice(end + 2).trim();
    }
    while (rest.startsWith('/*')) {
      const end = rest.indexOf('*/', 2);
      if (end < 0) {
        inComment = true;
        rest = '';
        break;
      }
      rest = rest.slice(end + 2).trim();
    }
    if (rest === '' || rest.startsWith('//')) out.add(i + 1);
  });
  return out;
}

/** Removes the statements (v8-to-istanbul makes one per line) of lines that hold no code. */
function dropNonCodeLines(map) {
  for (const file of map.files()) {
    const data = map.fileCoverageFor(file).data;
    const skip = nonCodeLines(fs.readFileSync(file, 'utf8'));
    for (const [id, loc] of Object.entries(data.statementMap)) {
      if (!skip.has(loc.start.line)) continue;
      delete data.statementMap[id];
      delete data.s[id];
    }
  }
}

/** Writes the HTML report, coverage-summary.json, coverage-final.json and lcov.info into coverage/. */
function writeReports(map) {
  fs.rmSync(REPORT_DIR, { recursive: true, force: true });
  const context = libReport.createContext({ dir: REPORT_DIR, coverageMap: map, defaultSummarizer: 'nested' });
  for (const name of ['html', 'json-summary', 'json', 'lcovonly']) reports.create(name).execute(context);
}

/** Formats one istanbul summary metric as "85.12% (123/145)". */
function metric(m) {
  return `${m.pct}% (${m.covered}/${m.total})`;
}

/** Prints the totals and the files below LOW_LINES_PCT % of lines. */
function printSummary(map) {
  const total = map.getCoverageSummary();
  console.log(`Coverage totals: lines ${metric(total.lines)}, statements ${metric(total.statements)}, branches ${metric(total.branches)}, functions ${metric(total.functions)}`);
  const low = map
    .files()
    .map((file) => ({ file: path.relative(ROOT, file), lines: map.fileCoverageFor(file).toSummary().lines }))
    .filter((f) => f.lines.pct < LOW_LINES_PCT)
    .sort((a, b) => a.lines.pct - b.lines.pct);
  console.log(`Files under ${LOW_LINES_PCT}% lines: ${low.length}`);
  for (const f of low) console.log(`  ${String(f.lines.pct).padStart(6)}%  ${f.file} (${f.lines.covered}/${f.lines.total})`);
  console.log(`Report: ${path.relative(ROOT, path.join(REPORT_DIR, 'index.html'))} (summary: ${path.relative(ROOT, path.join(REPORT_DIR, 'coverage-summary.json'))})`);
}

async function main() {
  const args = process.argv.slice(2);
  const reportOnly = args[0] === '--report';
  const started = Date.now();
  const code = reportOnly ? 0 : await runJest(args);
  const mergeStarted = Date.now();
  const map = await buildCoverageMap();
  writeReports(map);
  printSummary(map);
  console.log(`[coverage] ${reportOnly ? '' : `jest ${((mergeStarted - started) / 1000).toFixed(1)} s, `}merge and report ${((Date.now() - mergeStarted) / 1000).toFixed(1)} s`);
  process.exitCode = code;
}

main().catch((err) => {
  console.error(`[coverage] ${err.stack ?? err}`);
  process.exitCode = 1;
});
