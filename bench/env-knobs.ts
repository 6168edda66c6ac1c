/** A whole number above 0 from the environment (`fallback` when unset); anything else throws. */
export function positiveKnob(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!(Number.isInteger(value) && value > 0)) {
    throw new Error(`${name} must be a positive whole number, got ${process.env[name]}`);
  }
  return value;
}

/** A count that may be 0 (a short run without kills, say); anything else throws. */
export function countKnob(name: string, fallback: number): number {
  const value = Number(process.env[name] ?? fallback);
  if (!(Number.isInteger(value) && value >= 0)) {
    throw new Error(`${name} must be a whole number, 0 or more, got ${process.env[name]}`);
  }
  return value;
}
