import { expect } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';

/** The ConfigError `load` throws; fails the test when it accepts or throws anything else. */
export function configErrorOf(load: () => unknown): ConfigError {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  return expect.unreachable('the config was accepted');
}

/** The key and reason of the ConfigError `load` throws; fails the test when it accepts. */
export function configRefusal(load: () => unknown): { key: string; reason: string } {
  const { key, reason } = configErrorOf(load);
  return { key, reason };
}
