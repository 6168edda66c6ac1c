import { type ProbeOutcome, runProbe } from './fcgi-probe.js';
import { MALFORMED_KINDS, type MalformedKind, malformedScript } from './malformed-fcgi.js';

export interface MalformedOutcome extends ProbeOutcome {
  readonly kind: MalformedKind;
}

/** At most this many open at once: the ones whose params never end stay ~10 s each. */
const IN_FLIGHT = 8;

/**
 * `total` malformed client connections, the kinds in turn, each started when `due` says
 * (spread over the run) and left to end on its own while the next ones start.
 */
export async function runMalformed(
  socket: string,
  total: number,
  due: (index: number, total: number) => Promise<boolean>,
): Promise<MalformedOutcome[]> {
  const outcomes: MalformedOutcome[] = [];
  const running = new Set<Promise<void>>();
  for (let n = 0; n < total; n += 1) {
    if (!(await due(n, total))) break;
    while (running.size >= IN_FLIGHT) await Promise.race(running);
    const kind = MALFORMED_KINDS[n % MALFORMED_KINDS.length] as MalformedKind;
    const probe = runProbe(socket, malformedScript(kind, n)).then((outcome) => {
      outcomes.push({ kind, ...outcome });
      running.delete(probe);
    });
    running.add(probe);
  }
  await Promise.all(running);
  return outcomes;
}
