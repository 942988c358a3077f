#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { AppError } from '../lib/common/errors';
import { createCliContext } from './cli/context';
import { registerDbCommands } from './cli/db';
import { registerRunCommands } from './cli/run';
import { registerTariffCommands } from './cli/tariff';
import { registerVpnCommands } from './cli/vpn';
import { registerAccountCommands } from './cli/account';
import { registerCdrCommands } from './cli/cdr';
import { addExamples } from './cli/examples';
import { packageVersion } from './version';
import { registerEnterpriseGroupCommands } from './cli/group';

/** Whether commander has already written the message of the error it is about to throw. */
const reported = new WeakSet<Command>();

/** The `tollgate` command line. Every subcommand area registers itself here. */
export function buildProgram(argv: string[]): Command {
  const program = new Command('tollgate')
    .description('Tollgate: SIP B2BUA for enterprise VPN numbering and real-time prepaid charging')
    .version(packageVersion(), '-V, --version', 'print the Tollgate version')
    .option('-c, --config <file>', 'JSON config file merged over config/default.json (or $TOLLGATE_CONFIG)')
    .showHelpAfterError()
    .configureOutput({
      outputError: (text, write) => { reported.add(program); write(text); },
    })
    .exitOverride();
  const configFile = peekOption(argv, ['-c', '--config']);
  const command = argv.find((a) => !a.startsWith('-') && a !== configFile);
  const processName = command === 'edge' || command === 'app' ? command : command === 'start' ? 'supervisor' : 'cli';
  const ctx = createCliContext({ configFile, processName });
  registerRunCommands(program, ctx);
  registerDbCommands(program, ctx);
  registerTariffCommands(program, ctx);
  registerVpnCommands(program, ctx);
  registerAccountCommands(program, ctx);
  registerCdrCommands(program, ctx);
  registerEnterpriseGroupCommands(program, ctx);
  addExamples(program);
  return program;
}

function peekOption(argv: string[], names: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (names.includes(a)) return argv[i + 1];
    const eq = names.find((n) => a.startsWith(n + '='));
    if (eq) return a.slice(eq.length + 1);
  }
  return undefined;
}

/**
 * Runs the command line; resolves to the exit code. Every failure is printed once: commander's own
 * parse errors by commander, everything else here (an InvalidArgumentError raised inside an
 * action, a typed AppError, any other error), and it exits non-zero.
 */
export async function runCli(argv: string[], stderr: (text: string) => void = (t) => process.stderr.write(t)): Promise<number> {
  const program = buildProgram(argv.slice(2));
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      const quiet = reported.has(program) || ['commander.helpDisplayed', 'commander.help', 'commander.version'].includes(err.code);
      if (!quiet) stderr(`error: ${err.message.replace(/^error: /, '')}\n`);
      return err.exitCode === 0 && !quiet ? 1 : err.exitCode;
    }
    stderr(`error: ${err instanceof AppError || err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

async function main(): Promise<void> {
  process.exitCode = await runCli(process.argv);
}

if (require.main === module) void main();
