/**
 * What a terminal would act on instead of showing: C0 and C1 controls (ESC starts the
 * sequences that recolour, move the cursor, retitle the window or, on some terminals, write
 * to the clipboard), line and paragraph separators, and the invisible bidirectional marks
 * that reorder what is shown ("Trojan Source").
 */
const UNSAFE = /[\p{Cc}\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu;

/**
 * `text` made safe to print: every character above is shown as an escape (`\x1b`, `\n`,
 * `\u{202e}`), so a release directory named with an escape sequence prints as its name and
 * cannot drive the terminal. For display only: `--json` passes names on exactly.
 */
export function escapeControls(text: string): string {
  return text.replace(UNSAFE, escapeOne);
}

/** Like escapeControls, but keeps the line breaks of a multi-line message (a worker's output). */
export function escapeControlsByLine(text: string): string {
  return text.split('\n').map(escapeControls).join('\n');
}

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeOne(character: string): string {
  const named = NAMED[character];
  if (named !== undefined) return named;
  const code = character.codePointAt(0) ?? 0;
  return code < 0x100
    ? `\\x${code.toString(16).padStart(2, '0')}`
    : `\\u{${code.toString(16).padStart(4, '0')}}`;
}
