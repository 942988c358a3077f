/**
 * A stand-in for the edge or the application under the supervisor (test/unit/app/supervisor.test.ts):
 * `node supervised-child.js <name> [--drain-ms=N] [--ignore-stop] [--default-stop] [--crash-after-ms=N]`
 * (--default-stop: no SIGTERM handler, as a process already exiting: the signal ends it).
 * It appends what happens to it, one JSON line each, to the file named by $SUPERVISED_EVENTS:
 * started, stopping (first SIGINT/SIGTERM; the fake drain then lasts drain-ms), signal-ignored,
 * reloaded (SIGHUP), stopped (just before a clean exit), crashing.
 */
import fs from 'node:fs';

export interface ChildEvent { event: 'started' | 'stopping' | 'signal-ignored' | 'reloaded' | 'stopped' | 'crashing'; name: string; pid: number; t: number; signal?: string; execArgv?: string[] }

const MAX_LIFE_MS = 60_000;

function flag(name: string): string | undefined {
  const arg = process.argv.find((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  return arg === undefined ? undefined : arg.split('=')[1] ?? '';
}

function main(): void {
  const name = process.argv[2] ?? 'child';
  const file = process.env.SUPERVISED_EVENTS;
  if (!file) throw new Error('SUPERVISED_EVENTS is not set');
  const record = (event: ChildEvent['event'], signal?: string) => {
    const line: ChildEvent = { event, name, pid: process.pid, t: Date.now(), ...(signal ? { signal } : {}), ...(event === 'started' ? { execArgv: process.execArgv } : {}) };
    fs.appendFileSync(file, JSON.stringify(line) + '\n');
  };
  const drainMs = Number(flag('drain-ms') ?? 0);
  const ignoreStop = flag('ignore-stop') !== undefined;
  const crashAfterMs = flag('crash-after-ms');
  const defaultStop = flag('default-stop') !== undefined;

  // Bounded: a fixture left behind by a failed test ends by itself.
  const life = setTimeout(() => process.exit(4), MAX_LIFE_MS);
  let stopping = false;
  const onStop = (signal: NodeJS.Signals) => {
    if (stopping || ignoreStop) {
      record('signal-ignored', signal);
      return;
    }
    stopping = true;
    record('stopping', signal);
    setTimeout(() => {
      record('stopped');
      clearTimeout(life);
      process.exit(0);
    }, drainMs);
  };
  process.on('SIGINT', onStop);
  if (!defaultStop) process.on('SIGTERM', onStop);
  process.on('SIGHUP', () => record('reloaded', 'SIGHUP'));
  if (crashAfterMs !== undefined) {
    setTimeout(() => {
      record('crashing');
      process.exit(3);
    }, Number(crashAfterMs));
  }
  record('started');
}

main();
