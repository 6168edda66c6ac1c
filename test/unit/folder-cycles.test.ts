import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, posix, relative, sep } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir } from '../support/temp-dir.js';

const SRC = new URL('../../src', import.meta.url).pathname;

/** A relative specifier of a static or dynamic import, or of a re-export. */
const SPECIFIER = /\b(?:from|import)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g;

/** One folder's import of another, with the first import that makes it, for the message. */
type FolderEdges = Map<string, Map<string, string>>;

/**
 * Each folder below `root` is one node; a file directly in `root` is a node of its own. The
 * top level holds the composition root (which imports every folder) beside a few leaves that
 * folders import (coded-error.ts, log.ts): taken as one folder, it would be in a cycle with
 * every folder it wires, while no module imports from a folder that imports it.
 */
function nodeOf(root: string, file: string): string {
  const folder = relative(root, dirname(file)).split(sep).join(posix.sep);
  return folder === '' ? relative(root, file) : `${folder}/`;
}

function folderEdges(root: string): FolderEdges {
  const edges: FolderEdges = new Map();
  const files = readdirSync(root, { recursive: true, encoding: 'utf8' })
    .filter((name) => name.endsWith('.ts'))
    .map((name) => join(root, name));
  for (const file of files) {
    const from = nodeOf(root, file);
    for (const [, specifier] of readFileSync(file, 'utf8').matchAll(SPECIFIER)) {
      const target = join(dirname(file), (specifier as string).replace(/\.js$/, '.ts'));
      const to = nodeOf(root, target);
      if (to === from) continue;
      const out = edges.get(from) ?? new Map<string, string>();
      edges.set(from, out);
      if (!out.has(to)) out.set(to, `${relative(root, file)} imports ${specifier}`);
    }
  }
  return edges;
}

/** The first cycle found, as its nodes and the imports that close each step; null for none. */
function firstCycle(edges: FolderEdges): string | null {
  const done = new Set<string>();
  const path: string[] = [];
  const visit = (node: string): string | null => {
    const at = path.indexOf(node);
    if (at >= 0) {
      const cycle = [...path.slice(at), node];
      const steps = cycle.slice(1).map((to, i) => edges.get(cycle[i] as string)?.get(to));
      return `${cycle.join(' → ')} (${steps.join('; ')})`;
    }
    if (done.has(node)) return null;
    path.push(node);
    for (const next of edges.get(node)?.keys() ?? []) {
      const found = visit(next);
      if (found !== null) return found;
    }
    path.pop();
    done.add(node);
    return null;
  };
  for (const node of [...edges.keys()].sort()) {
    const found = visit(node);
    if (found !== null) return found;
  }
  return null;
}

describe('folder imports', () => {
  it('no folder of src/ imports from a folder that imports it, directly or around a cycle', () => {
    expect(firstCycle(folderEdges(SRC))).toBeNull();
  });

  describe('the check', () => {
    let temp: { path: string; remove: () => void } | null = null;
    afterEach(() => temp?.remove());

    function tree(files: Record<string, string>): string {
      temp = makeTempDir('folders');
      for (const [name, text] of Object.entries(files)) {
        mkdirSync(dirname(join(temp.path, name)), { recursive: true });
        writeFileSync(join(temp.path, name), text);
      }
      return temp.path;
    }

    it('names a cycle through three folders and the imports that make it', () => {
      const root = tree({
        'front/exchange.ts': "import { BalancerError } from '../balancer/error.js';\n",
        'balancer/balancer.ts': "import type { Lane } from '../lanes/lane.js';\n",
        'balancer/error.ts': 'export class BalancerError extends Error {}\n',
        'lanes/lane.ts': "export { Exchange } from '../front/exchange.js';\n",
      });
      expect(firstCycle(folderEdges(root))).toBe(
        'balancer/ → lanes/ → front/ → balancer/ (balancer/balancer.ts imports ../lanes/lane.js; lanes/lane.ts imports ../front/exchange.js; front/exchange.ts imports ../balancer/error.js)',
      );
    });

    it('counts a nested folder as a folder of its own, and dynamic imports too', () => {
      const root = tree({
        'supervisor/supervisor.ts': "import { launch } from './workers/launcher.js';\n",
        'supervisor/workers/launcher.ts': "const plan = await import('../plan.js');\n",
      });
      expect(firstCycle(folderEdges(root))).toMatch(/^supervisor\/ → supervisor\/workers\/ → /);
    });

    it('takes each top-level file alone: the composition root imports folders that import a leaf beside it', () => {
      const leaves = {
        'daemon.ts': "import { Front } from './front/front.js';\n",
        'coded-error.ts': 'export class CodedError extends Error {}\n',
        'front/front.ts': "import { CodedError } from '../coded-error.js';\n",
      };
      expect(firstCycle(folderEdges(tree(leaves)))).toBeNull();
      temp?.remove();
      const back = {
        ...leaves,
        'front/status.ts': "import type { Daemon } from '../daemon.js';\n",
      };
      expect(firstCycle(folderEdges(tree(back)))).toBe(
        'daemon.ts → front/ → daemon.ts (daemon.ts imports ./front/front.js; front/status.ts imports ../daemon.js)',
      );
    });
  });
});
