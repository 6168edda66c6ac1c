import { describe, expect, it } from 'vitest';
import { encodeNameValuePairs } from '../../../src/protocol/name-value-pairs.js';
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
    expect(finished.pairs).toEqual(pairs);
    expect(finished.bytes.equals(bytes)).toBe(true);
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

  it('reports a truncated last pair when the stream ends', () => {
    const params = new ParamsAccumulator();
    const bytes = encodeNameValuePairs([['NAME', 'value']]);
    params.push(bytes.subarray(0, bytes.length - 1));
    expect(() => params.finish()).toThrow(
      expect.objectContaining({ code: 'ERR_FCGI_TRUNCATED_PAIR' }),
    );
  });
});
