import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The installed package's own root and version. Read from package.json beside dist/ (this file is
 * `dist/util/package-info.js` or `src/util/package-info.ts`, two levels under the root), so an
 * installed copy reports its own version wherever it runs, not npm's `npm_package_version` of
 * whatever folder it was started from.
 */
export function packageRoot(): string {
  return fileURLToPath(new URL('../../', import.meta.url));
}

let cached: { name: string; version: string } | undefined;

export function packageInfo(): { name: string; version: string } {
  if (!cached) {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      name: string;
      version: string;
    };
    cached = { name: pkg.name, version: pkg.version };
  }
  return cached;
}
