import { readFileSync } from 'node:fs';

let cached: string | null = null;

/** The package version, read once from package.json (two levels up from src/ and dist/). */
export function packageVersion(): string {
  if (cached === null) {
    const packageJson = new URL('../package.json', import.meta.url);
    cached = (JSON.parse(readFileSync(packageJson, 'utf8')) as { version: string }).version;
  }
  return cached;
}
