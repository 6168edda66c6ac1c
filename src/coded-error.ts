/**
 * An error with a stable `code` (`ERR_…`) that callers, logs and tests branch on, never on
 * the message. Each module names its own codes as a string union.
 */
export class CodedError<Code extends string> extends Error {
  readonly code: Code;

  constructor(code: Code, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }
}
