import { readFileSync } from 'node:fs';
import { parse, TomlError } from 'smol-toml';
import { ConfigError } from './config-error.js';
import { describeFsError } from './fs-error.js';

/** The config file's text, or a ConfigError saying why it cannot be read. */
export function readConfigText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('', `cannot read config file ${path}: ${describeFsError(error)}`, {
      cause: error,
    });
  }
}

/** TOML text as data, or a ConfigError with the line and column of the syntax error. */
export function parseToml(text: string, source: string): unknown {
  try {
    return parse(text);
  } catch (error) {
    if (!(error instanceof TomlError)) throw error;
    // smol-toml's message is "Invalid TOML document: <what>" followed by a code excerpt.
    const what = (error.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    throw new ConfigError(
      '',
      `TOML syntax error at line ${error.line}, column ${error.column}: ${what}`,
      { file: source, cause: error },
    );
  }
}
