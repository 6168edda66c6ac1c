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

  it('has a default cap of 1 MiB', () => {
    const params = new ParamsAccumulator();
    params.push(Buffer.alloc(1024 * 1024));
    expect(() => params.push(Buffer.alloc(1))).toThrow(
      expect.objectContaining({ code: 'ERR_FCGI_PARAMS_TOO_LARGE' }),
    );
  });
});
