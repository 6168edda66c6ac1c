import { describe, expect, it } from 'vitest';
import { parseByteSize, parseDuration, parseFileMode } from '../../../src/config/units.js';

describe('parseDuration', () => {
  it.each([
    ['0', 0],
    ['250ms', 250],
    ['5s', 5_000],
    ['1.5s', 1_500],
    ['2m', 120_000],
    ['1h', 3_600_000],
    ['0.1h', 360_000],
  ])('reads %s as %i ms', (text, ms) => {
    expect(parseDuration(text)).toBe(ms);
  });

  it('requires a unit, with examples in the reason', () => {
    expect(() => parseDuration('5000')).toThrow('"5000" has no unit: use e.g. 500ms, 5s, 2m');
  });

  it.each(['5x', '', 's', '-1s', '5 s', '5S'])('refuses %j', (text) => {
    expect(() => parseDuration(text)).toThrow(/is not a duration: use e\.g\. 500ms, 5s, 2m/);
  });

  it('refuses fractions of a millisecond and delays beyond what a timer can hold', () => {
    expect(() => parseDuration('1.5ms')).toThrow('not a whole number of milliseconds');
    expect(() => parseDuration('600h')).toThrow('too long');
  });
});

describe('parseByteSize', () => {
  it.each([
    [512, 512],
    ['512', 512],
    ['64KiB', 65_536],
    ['1MiB', 1_048_576],
    ['2GiB', 2_147_483_648],
    ['1KB', 1_000],
    ['1MB', 1_000_000],
    ['1mib', 1_048_576],
    ['1.5KiB', 1_536],
    ['0', 0],
  ])('reads %j as %i bytes', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(['1MX', 'MiB', '', '-1KiB'])('refuses %j with examples', (text) => {
    expect(() => parseByteSize(text)).toThrow(/is not a size: use e\.g\. 512, 64KiB, 1MiB/);
  });

  it.each([-1, 1.5, '1.5B'])('refuses %j, which is not a whole number of bytes', (value) => {
    expect(() => parseByteSize(value)).toThrow('not a whole number of bytes');
  });
});

describe('parseFileMode', () => {
  it('reads octal with or without the leading zero', () => {
    expect(parseFileMode('0660')).toBe(0o660);
    expect(parseFileMode('660')).toBe(0o660);
    expect(parseFileMode('0755')).toBe(0o755);
  });

  it.each(['0998', '66', '06600', 'rw-rw----'])('refuses %j', (text) => {
    expect(() => parseFileMode(text)).toThrow('is not a file mode');
  });
});
