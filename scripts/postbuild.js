// Writes dist/apps/<app>/main.js entry points (the contract's paths) over tsc's output tree.
const fs = require('node:fs');
const path = require('node:path');
const root = path.join(__dirname, '..');
for (const app of fs.readdirSync(path.join(root, 'apps'))) {
  const target = path.join(root, 'dist', 'out', 'apps', app, 'src', 'main.js');
  if (!fs.existsSync(target)) continue;
  const dir = path.join(root, 'dist', 'apps', app);
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'main.js'), `require('../../out/apps/${app}/src/main.js');\n`);
}
