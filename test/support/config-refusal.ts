import { expect } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';

/** The key and reason of the ConfigError `load` throws; fails the test when it accepts. */
export function configRefusal(load: () => unknown): { key: string; reason: string } {
  try {
    load();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const { key, reason } = error as ConfigError;
    return { key, reason };
  }
  return expect.unreachable('the config was accepted');
}
