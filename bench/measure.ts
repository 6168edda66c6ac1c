import { cpus, totalmem } from 'node:os';

export interface Measurement {
  /** Operations per second, the median of the rounds. */
  readonly opsPerSecond: number;
  readonly rounds: readonly number[];
}

/**
 * Runs `operation` in rounds of about `roundMs` each after a warm-up, and returns the median
 * rate. The median of several rounds is robust against a GC pause or a noisy neighbour.
 */
export function measure(
  operation: () => void,
  options: { rounds?: number; roundMs?: number } = {},
): Measurement {
  const rounds = options.rounds ?? 7;
  const roundMs = options.roundMs ?? 300;
  runFor(operation, roundMs); // warm-up: let the JIT settle
  const rates: number[] = [];
  for (let round = 0; round < rounds; round += 1) rates.push(runFor(operation, roundMs));
  const sorted = [...rates].sort((a, b) => a - b);
  return { opsPerSecond: sorted[Math.floor(sorted.length / 2)] as number, rounds: rates };
}

function runFor(operation: () => void, roundMs: number): number {
  const deadline = process.hrtime.bigint() + BigInt(roundMs) * 1_000_000n;
  const start = process.hrtime.bigint();
  let count = 0;
  let now = start;
  // Check the clock every 64 operations so reading it costs little of the measurement.
  while (now < deadline) {
    for (let i = 0; i < 64; i += 1) operation();
    count += 64;
    now = process.hrtime.bigint();
  }
  return (count * 1e9) / Number(now - start);
}

export function machineSummary(): string {
  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  const memory = Math.round(totalmem() / 1024 ** 3);
  return `${cpu}, ${cpus().length} cores, ${memory} GiB, Node ${process.version}, ${process.platform} ${process.arch}`;
}

export function formatRate(value: number): string {
  if (value >= 1e6) return `${(value / 1e6).toFixed(2)} M`;
  if (value >= 1e3) return `${(value / 1e3).toFixed(1)} k`;
  return value.toFixed(0);
}
