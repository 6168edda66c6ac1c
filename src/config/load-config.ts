import { dirname, resolve } from 'node:path';
import { parseToml, readConfigText } from './config-file.js';
import type { Config } from './config-types.js';
import { validateConfig } from './schema.js';

/** Reads, parses and validates a config file; relative paths in it are relative to its directory. */
export function loadConfig(path: string): Config {
  return parseConfig(readConfigText(path), dirname(resolve(path)), path);
}

/** Parses and validates config text; `source` names it in messages. Returns a frozen Config. */
export function parseConfig(text: string, baseDir: string, source = '<string>'): Config {
  return deepFreeze(validateConfig(parseToml(text, source), resolve(baseDir), source));
}

/** Config is shared by every part of the daemon: freezing it keeps runtime state out of it. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
