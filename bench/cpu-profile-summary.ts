import { readFileSync } from 'node:fs';

/**
 * `tsx bench/cpu-profile-summary.ts FILE.cpuprofile [N]`: the N functions (20 unless told)
 * with the most self time in a V8 CPU profile, as written by `node --cpu-prof` (see
 * BENCH_CPU_PROFILE_DIR in data-plane.ts).
 */
interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
  };
}

interface Profile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export function selfTimes(profile: Profile): Array<{ name: string; micros: number }> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const totals = new Map<string, number>();
  profile.samples.forEach((id, index) => {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) return;
    const file = frame.url.replace(/^.*\/(node_modules|dist|node:)/, '$1');
    const name = `${frame.functionName || '(anonymous)'} ${file}:${frame.lineNumber + 1}`;
    totals.set(name, (totals.get(name) ?? 0) + (profile.timeDeltas[index] ?? 0));
  });
  return [...totals.entries()]
    .map(([name, micros]) => ({ name, micros }))
    .sort((a, b) => b.micros - a.micros);
}

function main(file: string | undefined, count: number): void {
  if (file === undefined) {
    process.stderr.write('usage: tsx bench/cpu-profile-summary.ts FILE.cpuprofile [N]\n');
    process.exitCode = 2;
    return;
  }
  const rows = selfTimes(JSON.parse(readFileSync(file, 'utf8')) as Profile);
  const total = rows.reduce((sum, row) => sum + row.micros, 0);
  const busy = rows
    .filter((row) => !row.name.startsWith('(idle)'))
    .reduce((sum, row) => sum + row.micros, 0);
  process.stdout.write(
    `total ${(total / 1e6).toFixed(2)} s sampled, ${(busy / 1e6).toFixed(2)} s not idle\n\n`,
  );
  process.stdout.write('| self time | % of busy | function |\n| ---: | ---: | --- |\n');
  for (const row of rows.filter((r) => !r.name.startsWith('(idle)')).slice(0, count)) {
    process.stdout.write(
      `| ${(row.micros / 1000).toFixed(0)} ms | ${((100 * row.micros) / busy).toFixed(1)} % | ${row.name} |\n`,
    );
  }
}

main(process.argv[2], Number(process.argv[3] ?? 20));
