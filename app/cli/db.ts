import type { Command } from 'commander';
import type { CliContext } from './context';
import { seedDemoData } from '../seed';

export function registerDbCommands(program: Command, ctx: CliContext): void {
  const db = program.command('db').description('database schema and demo data');
  db.command('migrate')
    .description('apply pending migrations (a second run does nothing)')
    .action(async () => {
      const applied = await ctx.withDatabase((d) => d.migrate());
      ctx.print(applied.length ? `applied ${applied.length} migration(s): ${applied.join(', ')}` : 'database is up to date');
    });
  db.command('seed')
    .description('load the demo data (VPN group acme, accounts, trunks, routes, example tariffs) into an empty database; refused, with nothing written, when it holds data')
    .option('--force', 'into a database that holds data: add only the demo rows that are missing; nothing that exists is changed')
    .action(async (o: { force?: boolean }) => {
      const report = await ctx.withDatabase(async (d) => {
        await d.migrate();
        return seedDemoData(d, ctx.config(), ctx.logger, { force: o.force === true });
      });
      ctx.print(report.kept.length === 0
        ? 'demo data loaded'
        : `demo data: added ${report.added.length ? report.added.join(', ') : 'nothing'}; kept as they were: ${report.kept.join(', ')}`);
    });
  db.command('status')
    .description('list migrations: applied, pending, and partial (interrupted; the next migrate completes it)')
    .option('--json', 'machine-readable output')
    .action(async (o: { json?: boolean }) => {
      const status = await ctx.withDatabase((d) => d.migrationStatus());
      const open = status.filter((m) => m.state !== 'applied');
      if (o.json) {
        ctx.print(JSON.stringify({ upToDate: open.length === 0, migrations: status }, null, 2));
        return;
      }
      for (const m of status) {
        if (m.state === 'partial') ctx.print(`partial  ${m.name}: present ${m.present.join(', ')}; missing ${m.missing.join(', ') || 'nothing (only its record)'}`);
        else ctx.print(`${m.state.padEnd(8)} ${m.name}`);
      }
      ctx.print(open.length ? `${open.length} migration(s) to apply: run db migrate` : 'database is up to date');
    });
}
