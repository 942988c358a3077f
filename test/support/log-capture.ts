import { Writable } from 'node:stream';
import winston from 'winston';

export interface CapturedLine { level: string; message: string; [k: string]: unknown }

/** A real winston logger whose lines are kept in memory, for tests that assert what is logged. */
export function captureLogs(level = 'debug'): { logger: winston.Logger; lines: CapturedLine[]; at(level: string): CapturedLine[] } {
  const lines: CapturedLine[] = [];
  const stream = new Writable({ objectMode: true, write(info: CapturedLine, _enc, done) { lines.push(info); done(); } });
  const logger = winston.createLogger({ level, transports: [new winston.transports.Stream({ stream })] });
  return { logger, lines, at: (l) => lines.filter((x) => x.level === l) };
}
