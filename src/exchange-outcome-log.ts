import type { Logger } from 'pino';
import type { Exchange, ExchangeOutcome } from './request/exchange.js';

/** Logs the outcomes an operator must see: answers the daemon generated, and mid-answer failures. */
export function logExchangeOutcome(
  logger: Logger,
  exchange: Exchange,
  outcome: ExchangeOutcome,
): void {
  if (outcome.kind === 'generated') {
    // The session's keyed hash, never its id: it ties a 429 to its lane's warning.
    const session = exchange.session?.hash;
    logger.warn(
      session === undefined ? { code: outcome.error.code } : { code: outcome.error.code, session },
      outcome.error.message,
    );
  } else if (outcome.kind === 'failed-midway') {
    logger.warn({ err: outcome.error.message }, 'the application failed after answering in part');
  }
}
