import { describe, expect, it } from 'vitest';
import { parseCgiResponseHead } from '../../../src/protocol/cgi-response.js';

function parse(text: string) {
  return parseCgiResponseHead(Buffer.from(text, 'latin1'));
}

describe('CGI response head', () => {
  it('defaults to 200 and keeps headers in order', () => {
    const head = parse('Content-Type: text/html\r\nX-A: 1\r\n\r\nbody');
    expect(head?.status).toBe(200);
    expect(head?.headers).toEqual([
      ['Content-Type', 'text/html'],
      ['X-A', '1'],
    ]);
    expect(head?.bodyOffset).toBe('Content-Type: text/html\r\nX-A: 1\r\n\r\n'.length);
  });

  it('takes the status from a Status header and drops that header', () => {
    const head = parse('Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\n');
    expect(head?.status).toBe(404);
    expect(head?.reason).toBe('Not Found');
    expect(head?.headers).toEqual([['Content-Type', 'text/plain']]);
  });

  it('fills in the reason phrase when Status gives only a code', () => {
    expect(parse('Status: 503\n\n')?.reason).toBe('Service Unavailable');
  });

  it('accepts bare LF line ends', () => {
    const head = parse('Status: 500\nContent-Type: text/plain\n\nboom');
    expect(head?.status).toBe(500);
    expect(head?.bodyOffset).toBe('Status: 500\nContent-Type: text/plain\n\n'.length);
  });

  it('makes a Location without Status a 302', () => {
    expect(parse('Location: /next\r\n\r\n')?.status).toBe(302);
    expect(parse('Status: 301\r\nLocation: /next\r\n\r\n')?.status).toBe(301);
  });

  it('returns null until the blank line arrives', () => {
    expect(parse('Content-Type: text/html\r\n')).toBeNull();
    expect(parse('Content-Type: text/html\r\n\r')).toBeNull();
  });
});
