/** Helpers for tests that drive the `tollgate tariff` commands in-process against a database. */
import { Writable } from 'node:stream';
import { Command } from 'commander';
import winston from 'winston';
import { loadConfig } from '../../../app/config/load';
import type { CliContext } from '../../../app/cli/context';
import { registerTariffCommands } from '../../../app/cli/tariff';
import { silentLogger } from '../../../lib/common/logger';
import { openDatabaseUrl } from '../../../lib/db/database';

export function cliContext(databaseUrl: string, timeZone: string, out: string[]): CliContext {
  const config = loadConfig({ env: {}, overrides: { database: { url: databaseUrl }, rating: { timeZone, reloadSeconds: 1 } } });
  return {
    config: () => config,
    logger: silentLogger(),
    async withDatabase<T>(fn: (db: Awaited<ReturnType<typeof openDatabaseUrl>>) => Promise<T>): Promise<T> {
      const db = await openDatabaseUrl(databaseUrl);
      try {
        return await fn(db);
      } finally {
        await db.close();
      }
    },
    print: (text: string) => { out.push(...text.split('\n')); },
  };
}

/** Runs `tollgate tariff …` in-process; resolves to the error it ended with, if any. */
export async function runTariff(ctx: CliContext, args: string[]): Promise<Error | undefined> {
  const program = new Command().exitOverride().configureOutput({ writeErr: () => undefined, writeOut: () => undefined });
  registerTariffCommands(program, ctx);
  try {
    await program.parseAsync(['node', 'tollgate', 'tariff', ...args]);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err : new Error(String(err));
  }
}

export function capturingLogger(): { logger: winston.Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({ objectMode: true, write(info: Record<string, unknown>, _enc, done) { lines.push(info); done(); } });
  return { logger: winston.createLogger({ level: 'debug', transports: [new winston.transports.Stream({ stream })] }), lines };
}

export async function waitFor(what: string, condition: () => boolean | Promise<boolean>, timeoutMs = 5000): Promise<number> {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return Date.now() - started;
}
