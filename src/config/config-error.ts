import { CodedError } from '../coded-error.js';

/** EX_CONFIG from sysexits.h: the exit status of the CLI when the configuration is invalid. */
export const CONFIG_EXIT_CODE = 78;

export interface ConfigErrorOptions {
  /** The config file (or `<string>`) the error is about; shown when there is no key. */
  readonly file?: string | undefined;
  readonly cause?: unknown;
}

/**
 * An invalid or unreadable configuration. `key` is the dotted path in the file's own names
 * (`limits.queue_timeout`, `replicas.addresses[1]`), or `''` when the file as a whole is at
 * fault, so the CLI can point at the line to fix without parsing the message.
 */
export class ConfigError extends CodedError<'ERR_CONFIG'> {
  override readonly name = 'ConfigError';
  readonly key: string;
  readonly reason: string;
  readonly file: string | undefined;

  constructor(key: string, reason: string, options: ConfigErrorOptions = {}) {
    const where = key !== '' ? key : options.file;
    super(
      'ERR_CONFIG',
      where === undefined ? reason : `${where}: ${reason}`,
      options.cause === undefined ? undefined : { cause: options.cause },
    );
    this.key = key;
    this.reason = reason;
    this.file = options.file;
  }
}

export function isConfigError(error: unknown): error is ConfigError {
  return error instanceof ConfigError;
}
