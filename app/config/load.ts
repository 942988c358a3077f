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
 *
 * Which variables are config keys: every variable with "__" (a typo there stops start-up), and a
 * single-level one only when it names a top-level key (TOLLGATE_DATA_DIR). Other single-level
 * variables are not ours: Kubernetes injects TOLLGATE_SERVICE_HOST, TOLLGATE_PORT_5060_UDP, …
 * for a Service named tollgate. They are ignored and listed for a debug line.
 */
function envOverrides(env: NodeJS.ProcessEnv, defaults: JsonObject): { overrides: JsonObject; problems: string[]; ignored: string[] } {
  const overrides: JsonObject = {};
  const problems: string[] = [];
  const ignored: string[] = [];
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
      if (segments.length === 1) ignored.push(name);
      else problems.push(`environment variable ${name}: no such config key`);
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
  return { overrides, problems, ignored };
}

function describeIssue(issue: { path: PropertyKey[]; message: string; code: string; keys?: string[] }): string[] {
  const at = issue.path.map(String).join('.');
  if (issue.code === 'unrecognized_keys' && issue.keys) {
    return issue.keys.map((k) => `config key ${at ? at + '.' : ''}${k}: unknown key`);
  }
  return [`config key ${at || '(top level)'}: ${issue.message.replace(/^Invalid input: /, '')}`];
}

/** The SQLite file of the embedded default, inside dataDir. */
export const EMBEDDED_SQLITE_FILE = 'tollgate.sqlite';

function has(layer: JsonObject | undefined, section: string, key?: string): boolean {
  if (!layer) return false;
  if (key === undefined) return layer[section] !== undefined;
  const s = layer[section];
  return isObject(s) && s[key] !== undefined;
}

/** The dialect a database url names, or why it names none. */
function dialectOfUrl(url: string): { dialect: 'mysql' | 'sqlite' } | { problem: string } {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(url)?.[1]?.toLowerCase();
  if (scheme === 'mysql' || scheme === 'mariadb') return { dialect: 'mysql' };
  if (scheme === 'sqlite' || scheme === 'file') return { dialect: 'sqlite' };
  return { problem: `config key database.url: the scheme must be mysql:, mariadb:, sqlite: or file:, got ${scheme ? `${scheme}:` : 'none'}` };
}

/**
 * Paths and the dialect, settled once so every process reads the same: a relative dataDir is read
 * against the folder of the config file that sets it (set by the defaults: the Tollgate folder;
 * by the environment or overrides: the config file's folder if there is one, else the Tollgate
 * folder); relative database.storage, prepaid.journalDir and sqlite: url paths inside dataDir.
 * The dialect follows database.url; an explicit database.dialect that disagrees is a problem.
 */
function settle(config: TollgateConfig, layers: { file?: string; fileLayer?: JsonObject; later: JsonObject[]; tollgateDir: string }, problems: string[]): TollgateConfig {
  const fileDir = layers.file ? path.dirname(path.resolve(layers.file)) : undefined;
  const setLater = layers.later.some((l) => has(l, 'dataDir'));
  const dataBase = setLater ? (fileDir ?? layers.tollgateDir) : has(layers.fileLayer, 'dataDir') ? fileDir! : layers.tollgateDir;
  const dataDir = path.resolve(dataBase, config.dataDir);
  const inData = (p: string): string => (p === ':memory:' ? p : path.resolve(dataDir, p));
  const database = { ...config.database, storage: inData(config.database.storage) };
  if (database.url) {
    const named = dialectOfUrl(database.url);
    if ('problem' in named) {
      problems.push(named.problem);
    } else {
      const { dialect } = named;
      const explicit = [layers.fileLayer, ...layers.later].some((l) => has(l, 'database', 'dialect'));
      if (explicit && config.database.dialect !== dialect) {
        problems.push(`config keys database.dialect and database.url disagree: database.dialect is "${config.database.dialect}" but database.url is a ${dialect} url (the dialect follows the url: drop database.dialect or make it "${dialect}")`);
      }
      database.dialect = dialect;
      if (dialect === 'sqlite') {
        const file = database.url.replace(/^[a-z]+:/i, '').replace(/^\/\/(?=\/)/, '');
        database.url = file === '' || file === ':memory:' ? 'sqlite::memory:' : `sqlite:${inData(file)}`;
      }
    }
  }
  const journalDir = config.prepaid.journalDir === null ? null : inData(config.prepaid.journalDir);
  return { ...config, dataDir, database, prepaid: { ...config.prepaid, journalDir } };
}

export interface LoadedConfig {
  config: TollgateConfig;
  /** TOLLGATE_* variables that are not config keys (see envOverrides); worth a debug line. */
  ignoredEnvironment: string[];
}

/** Defaults ← config file ← TOLLGATE_* environment ← overrides; then validated once, whole. */
export function loadConfigReport(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env;
  const configDir = opts.configDir ?? defaultConfigDir();
  const defaults = readJsonFile(path.join(configDir, 'default.json'));
  let merged = defaults;
  const file = opts.file ?? (env[CONFIG_FILE_ENV] || undefined);
  const fileLayer = file ? readJsonFile(file) : undefined;
  if (fileLayer) merged = merge(merged, fileLayer);
  const fromEnv = envOverrides(env, defaults);
  merged = merge(merged, fromEnv.overrides);
  if (opts.overrides) merged = merge(merged, opts.overrides);
  const result = configSchema.safeParse(merged);
  const problems = [...fromEnv.problems];
  if (!result.success) problems.push(...result.error.issues.flatMap((i) => describeIssue(i as never)));
  if (problems.length > 0 || !result.success) throw new ConfigError(problems);
  const later = [fromEnv.overrides, ...(opts.overrides ? [opts.overrides] : [])];
  const config = settle(result.data, { file, fileLayer, later, tollgateDir: path.dirname(configDir) }, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { config, ignoredEnvironment: fromEnv.ignored };
}

export function loadConfig(opts: LoadOptions = {}): TollgateConfig {
  return loadConfigReport(opts).config;
}
