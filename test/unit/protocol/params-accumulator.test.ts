import { describe, expect, it } from 'vitest';
import {
  decodeNameValuePairs,
  encodeNameValuePairs,
} from '../../../src/protocol/name-value-pairs.js';
import { ParamsAccumulator } from '../../../src/protocol/params-accumulator.js';

describe('params accumulator', () => {
  it('decodes pairs that straddle record boundaries', () => {
    const pairs: [string, string][] = [
      ['SCRIPT_FILENAME', '/srv/app/current/index.php'],
      ['QUERY_STRING', 'a=1&b=2'],
      ['HTTP_COOKIE', 'c'.repeat(300)],
    ];
    const bytes = encodeNameValuePairs(pairs);
    const params = new ParamsAccumulator();
    for (let at = 0; at < bytes.length; at += 7) params.push(bytes.subarray(at, at + 7));
    const finished = params.finish();
    expect(finished.equals(bytes)).toBe(true);
    expect(decodeNameValuePairs(finished)).toEqual(pairs);
  });

  it('refuses a stream over its cap with ERR_FCGI_PARAMS_TOO_LARGE', () => {
    const params = new ParamsAccumulator(1000);
    params.push(Buffer.alloc(600));
    expect(() => params.push(Buffer.alloc(401))).toThrow(
      expect.objectContaining({ code: 'ERR_FCGI_PARAMS_TOO_LARGE' }),
    );
  });

  it('reports what its records hold: tiny views into big reads are copied out', () => {
    const params = new ParamsAccumulator();
    for (let i = 0; i < 3_000; i += 1) {
      const read = Buffer.allocUnsafeSlow(64 * 1024);
      params.push(read.subarray(i % 64, (i % 64) + 1));
    }
    expect(params.size).toBe(3_000);
    expect(params.retained).toBeLessThan(8 * 1024);
    expect(params.finish().length).toBe(3_000);
  });

  it('has a default cap of 1 MiB', () => {
    const params = new ParamsAccumulator();
    params.push(Buffer.alloc(1024 * 1024));
    expect(() => params.push(Buffer.alloc(1))).toThrow(
      expect.objectContaining({ code: 'ERR_FCGI_PARAMS_TOO_LARGE' }),
    );
  });
});
