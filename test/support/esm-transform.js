/**
 * Jest transform for the ES-module-only packages in node_modules (NestJS 12). Node 20.19+
 * loads them with require(esm) at run time, but jest's module loader does so only on Node
 * 24.9+, so on older Node jest compiles them to CommonJS here, with TypeScript's transpiler.
 * CommonJS has no `import.meta`, and already has `require`, so before compiling:
 */
'use strict';
const crypto = require('node:crypto');
const ts = require('typescript');

const REWRITES = [
  // a module's own `const require = createRequire(import.meta.url)`: declaring it again is a syntax error
  [/^\s*(?:const|let|var)\s+require\s*=\s*(?:\w+\.)?createRequire\([^)]*\);?[ \t]*$/gm, ''],
  [/\bimport\.meta\.url\b/g, "require('node:url').pathToFileURL(__filename).href"],
  [/\bimport\.meta\.resolve\(/g, 'require.resolve('],
  [/\bimport\.meta\.dirname\b/g, '__dirname'],
  [/\bimport\.meta\.filename\b/g, '__filename'],
];
const VERSION = 'esm-transform-5';

module.exports = {
  getCacheKey(source, path) {
    return crypto.createHash('sha256').update(`${VERSION}\0${path}\0`).update(source).digest('hex');
  },
  process(source, path) {
    const rewritten = REWRITES.reduce((s, [pattern, replacement]) => s.replace(pattern, replacement), source);
    const out = ts.transpileModule(rewritten, {
      fileName: path,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, allowJs: true, sourceMap: false, esModuleInterop: true },
    });
    return { code: out.outputText };
  },
};
