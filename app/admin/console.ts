import fs from 'node:fs';
import path from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/** Where the web console is served; the page holds no data, every call it makes carries the token. */
export const CONSOLE_PREFIX = '/console';

const FILES: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'console.css': 'text/css; charset=utf-8',
};

// Scripts and styles from this origin only: nothing inline, nothing from elsewhere.
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** The console's files sit beside this module in the sources (plain HTML, JS and CSS: no build step). */
function consoleDir(): string | undefined {
  return [path.resolve(__dirname, 'console'), path.resolve(__dirname, '../../../app/admin/console')]
    .find((dir) => fs.existsSync(path.join(dir, 'index.html')));
}

/** Serves the console's three files, read once at start. */
export function registerConsole(app: FastifyInstance): void {
  const dir = consoleDir();
  const files = new Map<string, Buffer>();
  if (dir) for (const name of Object.keys(FILES)) files.set(name, fs.readFileSync(path.join(dir, name)));
  const serve = (name: string) => async (_req: FastifyRequest, reply: FastifyReply) => {
    const body = files.get(name);
    if (!body) return reply.code(404).send({ error: 'NOT_FOUND', message: 'the console files are not installed beside the application' });
    return reply.header('Content-Type', FILES[name]!).header('Content-Security-Policy', CSP).header('Cache-Control', 'no-cache').send(body);
  };
  app.get(CONSOLE_PREFIX, { schema: { hide: true } }, serve('index.html'));
  app.get(`${CONSOLE_PREFIX}/`, { schema: { hide: true } }, serve('index.html'));
  for (const name of ['console.js', 'console.css']) app.get(`${CONSOLE_PREFIX}/${name}`, { schema: { hide: true } }, serve(name));
}
