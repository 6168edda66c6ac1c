import { CodedError } from '../coded-error.js';

/** Why a deploy target was refused; the CLI and tests branch on this, not on the message. */
export type DeployTargetReason =
  /** No such path (or a symlink whose target is gone). */
  | 'missing'
  /** A file, socket or anything else a document root cannot be. */
  | 'not-a-directory'
  /** Resolves outside release.root, possibly through a symlink inside it. */
  | 'outside-root'
  /** Already what the symlink points at, and --force was not given. */
  | 'already-current'
  /** The release symlink itself: it would end up pointing at itself. */
  | 'is-the-symlink';

/**
 * A `switchyard deploy` target refused before anything changes. The control server answers it
 * with 422 (see REFUSAL_STATUS), the message naming the target and what is wrong with it.
 */
export class DeployTargetError extends CodedError<'ERR_DEPLOY_TARGET'> {
  override readonly name = 'DeployTargetError';
  readonly reason: DeployTargetReason;
  /** The target as it was asked for. */
  readonly target: string;

  constructor(reason: DeployTargetReason, target: string, message: string, options?: ErrorOptions) {
    super('ERR_DEPLOY_TARGET', message, options);
    this.reason = reason;
    this.target = target;
  }
}

export function isDeployTargetError(error: unknown): error is DeployTargetError {
  return error instanceof DeployTargetError;
}

/**
 * The release symlink could not be read or flipped (missing, dangling, not writable). `symlink`
 * is its path; the cause is the filesystem error.
 */
export class ReleaseSymlinkError extends CodedError<'ERR_RELEASE_SYMLINK'> {
  override readonly name = 'ReleaseSymlinkError';
  readonly symlink: string;

  constructor(symlink: string, message: string, options?: ErrorOptions) {
    super('ERR_RELEASE_SYMLINK', message, options);
    this.symlink = symlink;
  }
}
