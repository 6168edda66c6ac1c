/** A latency or a duration for a table: `0.84 ms`, `12.3 ms`, `204 ms`, `1.52 s`. */
export function formatMs(value: number): string {
  if (value >= 1000) return `${(value / 1000).toFixed(2)} s`;
  if (value >= 100) return `${value.toFixed(0)} ms`;
  return `${value.toFixed(value >= 10 ? 1 : 2)} ms`;
}
