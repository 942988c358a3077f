import winston from 'winston';

export type Logger = winston.Logger;

export interface LogOptions {
  level: 'error' | 'warn' | 'info' | 'http' | 'verbose' | 'debug' | 'silly';
  /** json: one JSON object per line (production); pretty: readable on a terminal. */
  format: 'json' | 'pretty';
  /** Name of the process in every line (edge, app, cli). */
  process?: string;
}

export function createLogger(opts: LogOptions): Logger {
  const base = [winston.format.timestamp(), winston.format.errors({ stack: true })];
  const format = opts.format === 'json'
    ? winston.format.combine(...base, winston.format.json({ bigint: true } as never))
    : winston.format.combine(...base, winston.format.colorize(), winston.format.printf(({ timestamp, level, message, ...meta }) => {
        const rest = Object.keys(meta).length ? ' ' + JSON.stringify(meta, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)) : '';
        return `${timestamp} ${level} ${message}${rest}`;
      }));
  return dropDisabledLevels(winston.createLogger({
    level: opts.level,
    format,
    defaultMeta: opts.process ? { process: opts.process } : undefined,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  }));
}

/**
 * winston formats every entry (timestamp, JSON) before its transports compare levels, so a
 * disabled info or debug line costs as much as a written one: per call, several. The level
 * methods of this logger and of its children (which inherit them) return at once when the level
 * is off; the check reads the logger's level at each call, so changing it later still works.
 */
function dropDisabledLevels(logger: Logger): Logger {
  for (const level of Object.keys(logger.levels)) {
    const method = (logger as unknown as Record<string, (...args: unknown[]) => Logger>)[level];
    if (typeof method !== 'function') continue;
    Object.defineProperty(logger, level, {
      configurable: true, writable: true,
      value: function (this: Logger, ...args: unknown[]): Logger {
        return this.isLevelEnabled(level) ? method.apply(this, args) : this;
      },
    });
  }
  return logger;
}

/** A logger that drops everything: for unit tests and library defaults. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
