/**
 * An app stopped by its configuration exits within this, even on a loaded machine: start-up is
 * mostly loading modules, and with coverage on (scripts/coverage.js) the exit writes its V8
 * coverage too. Measured here with two CPU hogs beside it: 3.6-5.4 s alone; the suites that run
 * such apps keep several other processes busy at the same time. One that got past its
 * configuration keeps running, so the bound still tells the two apart.
 */
export const EXIT_WITHIN_MS = 25_000;
