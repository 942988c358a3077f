/**
 * The supervisor of `tollgate start` running stand-in children (supervised-child.ts), for tests that
 * signal it as an operator would: `node supervisor-fixture.js '<specs json>' '<supervisor config json>'`.
 * Its JSON log lines go to stderr; it exits with the supervisor's exit code.
 */
import path from 'node:path';
import { createLogger } from '../../lib/common/logger';
import { superviseProcesses, type ChildSpec, type SupervisorConfig } from '../../app/supervisor';

async function main(): Promise<void> {
  const specs = JSON.parse(process.argv[2] ?? '[]') as ChildSpec[];
  const config = JSON.parse(process.argv[3] ?? '{}') as SupervisorConfig;
  const logger = createLogger({ level: 'info', format: 'json', process: 'supervisor' });
  process.exitCode = await superviseProcesses(path.join(__dirname, 'supervised-child.js'), specs, config, logger, process.env);
}

void main();
