#!/usr/bin/env node
// `farmctl` (package.json "bin"): runs the compiled CLI of apps/notifier/src/cli/farmctl.ts.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const compiled = path.join(__dirname, '..', 'dist', 'out', 'apps', 'notifier', 'src', 'cli', 'farmctl.js');
if (!fs.existsSync(compiled)) {
  console.error('farmctl: run `npm run build` first');
  process.exit(2);
}
const cli = require(compiled);
cli.main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err) => {
    console.error(`farmctl: ${(err && err.stack) || String(err)}`);
    process.exitCode = 1;
  },
);
