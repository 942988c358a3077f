import fs from 'node:fs';
import path from 'node:path';

/** Tollgate's version, from package.json: what `tollgate --version` prints and tollgate_build_info carries. */
export function packageVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync(path.resolve(__dirname, '../../package.json'), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}
