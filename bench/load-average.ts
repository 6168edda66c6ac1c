import { loadavg } from 'node:os';

/** The machine's 1, 5 and 15 minute load averages, for the record beside the figures. */
export function formatLoad(): string {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(', ');
}
