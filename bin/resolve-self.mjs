// Node module-resolution hook:
// - `mailprov` and `mailprov/...` resolve to this package, wherever the importing file lives, so an
//   inventory outside this repository gets the running mailprov;
// - a .ts file outside any "type": "module" package (an inventory in /srv/inventories, say) is still
//   loaded as an ES module, as inventories are written.
import { dirname, resolve as resolvePath } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolvePath(dirname(fileURLToPath(import.meta.url)), '..');
const self = pathToFileURL(resolvePath(root, 'package.json')).href;

export async function resolve(specifier, context, next) {
  if (specifier === 'mailprov' || specifier.startsWith('mailprov/')) {
    // Resolve as if imported from inside the package: its "exports" map then applies.
    return next(specifier, { ...context, parentURL: self });
  }
  const result = await next(specifier, context);
  if (
    /\.m?ts$/.test(result.url) &&
    result.url.startsWith('file:') &&
    !result.url.includes('/node_modules/') &&
    result.format !== 'module'
  ) {
    return { ...result, format: 'module' };
  }
  return result;
}
