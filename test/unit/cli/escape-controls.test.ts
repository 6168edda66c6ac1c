import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { escapeControls, escapeControlsByLine } from '../../../src/cli/escape-controls.js';

describe('escapeControls', () => {
  it('shows escape sequences, C1 controls, line breaks and bidi marks as escapes', () => {
    expect(escapeControls('rel\x1b[31mred\x1b[0m')).toBe('rel\\x1b[31mred\\x1b[0m');
    expect(escapeControls('a\nb\rc\td')).toBe('a\\nb\\rc\\td');
    expect(escapeControls('\x00\x07\x7f\x9b')).toBe('\\x00\\x07\\x7f\\x9b');
    expect(escapeControls('evil\u202egnp.php')).toBe('evil\\u{202e}gnp.php');
    expect(escapeControls('a\u2028b\u2066c')).toBe('a\\u{2028}b\\u{2066}c');
  });

  it('leaves printable text alone, accents and emoji included', () => {
    expect(escapeControls('/srv/app/releases/42')).toBe('/srv/app/releases/42');
    expect(escapeControls('café 🚀 \\x1b')).toBe('café 🚀 \\x1b');
  });

  it('never lets a control character through, for any string', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        expect(escapeControls(text)).not.toMatch(/[\p{Cc}\u202a-\u202e\u2066-\u2069]/u);
      }),
    );
  });

  it('by line: keeps the line breaks, escapes the rest', () => {
    expect(escapeControlsByLine('first \x1b]0;title\x07\nsecond\r')).toBe(
      'first \\x1b]0;title\\x07\nsecond\\r',
    );
  });
});
