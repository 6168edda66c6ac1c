import { fileURLToPath } from 'node:url';

/** The repository's root directory, for fixtures the tests start processes from. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url)).replace(/\/$/, '');
