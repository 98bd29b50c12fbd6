/**
 * Jest transform for the ES-module-only packages in node_modules (NestJS 12). Node 20.19+
 * loads them with require(esm) at run time, but jest's module loader does so only on Node
 * 24.9+, so on older Node jest compiles them to CommonJS here: TypeScript's transpiler, with
 * `import.meta.url` (which CommonJS has no syntax for) replaced by the file's own URL.
 */
'use strict';
const crypto = require('node:crypto');
const ts = require('typescript');

const IMPORT_META_URL = /\bimport\.meta\.url\b/g;
const FILE_URL = "require('node:url').pathToFileURL(__filename).href";

module.exports = {
  getCacheKey(source, path) {
    return crypto.createHash('sha256').update('esm-transform-1\0').update(path).update('\0').update(source).digest('hex');
  },
  process(source, path) {
    const out = ts.transpileModule(source.replace(IMPORT_META_URL, FILE_URL), {
      fileName: path,
      compilerOptions: { module: ts.ModuleKind.CommonJS, target: ts.ScriptTarget.ES2022, allowJs: true, sourceMap: false, esModuleInterop: true },
    });
    return { code: out.outputText };
  },
};
