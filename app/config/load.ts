import fs from 'node:fs';
import path from 'node:path';
import { configSchema, type TollgateConfig } from './schema';
import { AppError } from '../../lib/common/errors';

export const ENV_PREFIX = 'TOLLGATE_';
export const CONFIG_FILE_ENV = 'TOLLGATE_CONFIG';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type JsonObject = { [k: string]: Json };

export interface LoadOptions {
  /** A JSON file merged over the defaults (else $TOLLGATE_CONFIG, if set). */
  file?: string;
  /** Environment to read TOLLGATE_* overrides from (defaults to process.env). */
  env?: NodeJS.ProcessEnv;
  /** Last-layer overrides, already structured (used by tests and the CLI). */
  overrides?: JsonObject;
  /** Folder holding default.json (defaults to the project's config/). */
  configDir?: string;
}

export class ConfigError extends AppError {
  constructor(readonly problems: string[]) {
    super('CONFIG_INVALID', `invalid configuration:\n  ${problems.join('\n  ')}`, { problems });
  }
}

/** Find the project's config/ folder whether running from sources or from dist/. */
export function defaultConfigDir(): string {
  for (const dir of [path.resolve(__dirname, '../../config'), path.resolve(__dirname, '../../../config')]) {
    if (fs.existsSync(path.join(dir, 'default.json'))) return dir;
  }
  throw new AppError('CONFIG_MISSING', `config/default.json not found near ${__dirname}`);
}

function isObject(v: Json | undefined): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; arrays and scalars replace. */
function merge(base: JsonObject, over: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = isObject(b) && isObject(v) ? merge(b, v) : v;
  }
  return out;
}

function readJsonFile(file: string): JsonObject {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`config file ${file}: cannot be read (${(err as Error).message})`]);
  }
  try {
    const parsed = JSON.parse(text) as Json;
    if (!isObject(parsed)) throw new Error('the top level must be an object');
    return parsed;
  } catch (err) {
    throw new ConfigError([`config file ${file}: not valid JSON (${(err as Error).message})`]);
  }
}

/**
 * TOLLGATE_DATABASE__URL=… sets database.url; "__" separates levels and single "_" inside a level
 * is ignored when matching, so TOLLGATE_PREPAID__GRANT_SECONDS sets prepaid.grantSeconds.
 * Values are JSON when they parse as JSON, except where the default is a string.
 */
function envOverrides(env: NodeJS.ProcessEnv, defaults: JsonObject): { overrides: JsonObject; problems: string[] } {
  const overrides: JsonObject = {};
  const problems: string[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith(ENV_PREFIX) || name === CONFIG_FILE_ENV || raw === undefined) continue;
    const segments = name.slice(ENV_PREFIX.length).split('__');
    let shape: Json | undefined = defaults;
    const keys: string[] = [];
    for (const seg of segments) {
      const wanted = seg.replace(/_/g, '').toLowerCase();
      const key: string | undefined = isObject(shape) ? Object.keys(shape).find((k) => k.toLowerCase() === wanted) : undefined;
      if (!key || !isObject(shape)) { keys.length = 0; break; }
      keys.push(key);
      shape = shape[key];
    }
    if (keys.length === 0) {
      problems.push(`environment variable ${name}: no such config key`);
      continue;
    }
    let value: Json = raw;
    if (typeof shape !== 'string') {
      try { value = JSON.parse(raw) as Json; } catch { value = raw; }
    }
    let node = overrides;
    keys.slice(0, -1).forEach((k) => {
      if (!isObject(node[k])) node[k] = {};
      node = node[k] as JsonObject;
    });
    node[keys[keys.length - 1]!] = value;
  }
  return { overrides, problems };
}

function describeIssue(issue: { path: PropertyKey[]; message: string; code: string; keys?: string[] }): string[] {
  const at = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    return issue.keys.map((k) => `config key ${at ? at + '.' : ''}${k}: unknown key`);
  }
  return [`config key ${at || '(top level)'}: ${issue.message.replace(/^Invalid input: /, '')}`];
}

/** Defaults ← config file ← TOLLGATE_* environment ← overrides; then validated once, whole. */
export function loadConfig(opts: LoadOptions = {}): TollgateConfig {
  const env = opts.env ?? process.env;
  const defaults = readJsonFile(path.join(opts.configDir ?? defaultConfigDir(), 'default.json'));
  let merged = defaults;
  const file = opts.file ?? env[CONFIG_FILE_ENV];
  if (file) merged = merge(merged, readJsonFile(file));
  const fromEnv = envOverrides(env, defaults);
  merged = merge(merged, fromEnv.overrides);
  if (opts.overrides) merged = merge(merged, opts.overrides);
  const result = configSchema.safeParse(merged);
  const problems = [...fromEnv.problems];
  if (!result.success) problems.push(...result.error.issues.flatMap((i) => describeIssue(i as never)));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  return result.data;
}
