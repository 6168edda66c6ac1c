import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { ConfigError } from './config-error.js';
import { describeFsError } from './fs-error.js';
import { type Config, validateConfig } from './schema.js';

/** Reads, parses and validates a config file; relative paths in it are relative to its directory. */
export function loadConfig(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError('', `cannot read config file ${path}: ${describeFsError(error)}`, {
      cause: error,
    });
  }
  return parseConfig(text, dirname(resolve(path)), path);
}

/** Parses and validates config text; `source` names it in messages. Returns a frozen Config. */
export function parseConfig(text: string, baseDir: string, source = '<string>'): Config {
  let data: unknown;
  try {
    data = parse(text);
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
  return deepFreeze(validateConfig(data, resolve(baseDir), source));
}

/** Config is shared by every part of the daemon: freezing it keeps runtime state out of it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
