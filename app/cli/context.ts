import { createLogger, type Logger } from '../../lib/common/logger';
import { openDatabase, type Database } from '../../lib/db/database';
import { loadConfigReport } from '../config/load';
import type { TollgateConfig } from '../config/schema';

/** What every CLI command gets: the validated config, a logger, the database on demand, stdout. */
export interface CliContext {
  config(): TollgateConfig;
  logger: Logger;
  withDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T>;
  print(text: string): void;
  /** A command whose answer is a refusal (e.g. `vpn resolve`) ends with this exit code after printing it. */
  setExitCode?(code: number): void;
}

export function logFormat(config: TollgateConfig): 'json' | 'pretty' {
  if (config.log.format !== 'auto') return config.log.format;
  return process.stderr.isTTY ? 'pretty' : 'json';
}

export function createCliContext(opts: { configFile?: string; processName: string }): CliContext {
  let cached: TollgateConfig | undefined;
  let ignoredEnvironment: string[] = [];
  const config = (): TollgateConfig => {
    if (!cached) ({ config: cached, ignoredEnvironment } = loadConfigReport({ file: opts.configFile }));
    return cached;
  };
  let logger: Logger | undefined;
  const ctx: CliContext = {
    config,
    get logger(): Logger {
      if (!logger) {
        const c = config();
        logger = createLogger({ level: c.log.level, format: logFormat(c), process: opts.processName });
        for (const name of ignoredEnvironment) logger.debug('environment variable ignored: not a config key', { name });
      }
      return logger;
    },
    async withDatabase<T>(fn: (db: Database) => Promise<T>): Promise<T> {
      const db = await openDatabase(config().database, ctx.logger);
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    },
    print: (text: string) => { process.stdout.write(text.endsWith('\n') ? text : text + '\n'); },
    setExitCode: (code: number) => { process.exitCode = code; },
  };
  return ctx;
}
