import { type LevelWithSilent, type Logger, pino } from 'pino';

/**
 * JSON lines on stdout for journald and log shippers; `pretty` for people at a terminal,
 * through pino-pretty when it is installed.
 */
export function createLogger(level: LevelWithSilent, pretty = false): Logger {
  if (pretty) {
    return pino({ level, transport: { target: 'pino-pretty', options: { colorize: true } } });
  }
  return pino({ level, base: { pid: process.pid } });
}

/** A logger that drops everything: for tests that assert on behaviour, not log lines. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
