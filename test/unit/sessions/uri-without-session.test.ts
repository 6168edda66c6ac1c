import { describe, expect, it } from 'vitest';
import { uriWithoutSession } from '../../../src/sessions/uri-without-session.js';

describe('uriWithoutSession', () => {
  it('hides the value of each session parameter, keeps everything else', () => {
    expect(uriWithoutSession('/a.php?x=1&PHPSESSID=secret&y=2', ['PHPSESSID'])).toBe(
      '/a.php?x=1&PHPSESSID=…&y=2',
    );
    expect(uriWithoutSession('/a.php?sid=s1&sid=s2', ['sid'])).toBe('/a.php?sid=…&sid=…');
  });

  it('knows a %-encoded name as PHP does', () => {
    expect(uriWithoutSession('/a.php?PHP%53ESSID=secret', ['PHPSESSID'])).toBe(
      '/a.php?PHP%53ESSID=…',
    );
  });

  it('leaves a URI without a query, or without session parameters, as it is', () => {
    expect(uriWithoutSession('/a.php', ['PHPSESSID'])).toBe('/a.php');
    expect(uriWithoutSession('/a.php?q=%zz', ['PHPSESSID'])).toBe('/a.php?q=%zz');
    expect(uriWithoutSession('/a.php?PHPSESSID=x', [])).toBe('/a.php?PHPSESSID=x');
    expect(uriWithoutSession('/a.php?%zz=1', ['PHPSESSID'])).toBe('/a.php?%zz=1');
  });
});
