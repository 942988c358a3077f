import { spawnSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';

/** The built CLI. */
export const CLI = path.resolve(__dirname, '../../app/cli.js');

export interface CliResult { status: number | null; stdout: string; stderr: string }

/**
 * Runs `tollgate <args>` as an operator would, on the database at `url()` (read at each run, as
 * tests set it in a before hook), with no config file and warnings only; bounded to 30 s.
 */
export function cliRunner(url: () => string): (...args: string[]) => CliResult {
  return (...args: string[]) => {
    const env: NodeJS.ProcessEnv = { ...process.env, TOLLGATE_CONFIG: '', TOLLGATE_DATABASE__URL: url(), TOLLGATE_LOG__LEVEL: 'warn' };
    delete env.TOLLGATE_TEST_MYSQL_URL;
    const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: 'utf8', timeout: 30_000, cwd: os.tmpdir() });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr };
  };
}
