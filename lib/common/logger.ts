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
  return winston.createLogger({
    level: opts.level,
    format,
    defaultMeta: opts.process ? { process: opts.process } : undefined,
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly'] })],
  });
}

/** A logger that drops everything: for unit tests and library defaults. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
