import { createHash, timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyError, type FastifyInstance } from 'fastify';
import { AppError } from '../../lib/common/errors';
import type { Logger } from '../../lib/common/logger';
import { openApiDocument } from './openapi';
import { adminRoutes, FieldError, type AdminDeps } from './routes';
import { MONEY_PATTERN } from './schemas';

export interface AdminServerOptions {
  address: string;
  /** 0 picks a free port. */
  port: number;
  token: string;
}

export interface AdminServer {
  readonly address: string;
  readonly port: number;
  readonly url: string;
  close(): Promise<void>;
}

const MONEY_FIELDS = ['amount', 'creditLimit', 'lowBalanceThreshold', 'money'];

/** HTTP status of our own error codes; anything else is a 500. */
const STATUS_BY_CODE: Record<string, number> = {
  UNKNOWN_ACCOUNT: 404, UNKNOWN_CALL: 404,
  INVALID_AMOUNT: 400, AMOUNT_OUT_OF_RANGE: 400, INVALID_ACCOUNT: 400, INVALID_KEY: 400, BAD_REQUEST: 400, BAD_SECONDS: 400, BAD_START: 400,
  DUPLICATE_ACCOUNT: 409, IDEMPOTENCY_CONFLICT: 409, CURRENCY_MISMATCH: 409, INSUFFICIENT_FUNDS: 409, ILLEGAL_STATE: 409,
  NO_RULE: 422,
  DB_UNAVAILABLE: 503,
};

/** The admin API as a fastify instance, not listening (tests use inject()). */
export function buildAdminApp(deps: AdminDeps, token: string, logger: Logger): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    ajv: { customOptions: { removeAdditional: false, formats: { money: new RegExp(MONEY_PATTERN) } } },
  });
  const routes = adminRoutes(deps);
  const open = new Set(['/openapi.json', ...routes.filter((r) => r.open).map((r) => r.url)]);
  const expected = digest(token);

  app.addHook('onRequest', async (req, reply) => {
    if (open.has(req.routeOptions.url ?? '')) return;
    const header = req.headers.authorization ?? '';
    const m = /^Bearer\s+(.+)$/i.exec(header);
    if (!m || !timingSafeEqual(digest(m[1]!.trim()), expected)) {
      reply.code(401).header('WWW-Authenticate', 'Bearer realm="tollgate"');
      return reply.send({ error: 'UNAUTHORIZED', message: m ? 'wrong token' : 'missing Authorization: Bearer <token>' });
    }
  });

  // Money never travels as a JSON number (a float): refused before the schema could coerce it.
  app.addHook('preValidation', async (req, reply) => {
    const body = req.body as Record<string, unknown> | undefined;
    if (!body || typeof body !== 'object') return;
    const wrong = MONEY_FIELDS.find((f) => typeof body[f] === 'number');
    if (wrong) return reply.code(400).send({ error: 'BAD_REQUEST', message: `body/${wrong} must be a decimal amount as a string, e.g. "12.50", not a JSON number`, field: wrong });
  });

  app.setErrorHandler((err: FastifyError | AppError | Error, req, reply) => {
    const v = (err as FastifyError).validation;
    if (v && v.length > 0) {
      const first = v[0]!;
      const params = first.params as { missingProperty?: string; additionalProperty?: string };
      const name = params.missingProperty ?? params.additionalProperty ?? first.instancePath.replace(/^\//, '').replace(/\//g, '.');
      const where = (err as FastifyError).validationContext ?? 'body';
      const message = params.additionalProperty
        ? `${where}/${params.additionalProperty} is not a known field`
        : first.keyword === 'format' && (first.params as { format?: string }).format === 'money'
          ? `${where}/${name} must be a decimal amount as a string, e.g. "12.50" (at most 6 decimals)`
          : err.message;
      return reply.code(400).send({ error: 'BAD_REQUEST', message, field: name });
    }
    if (err instanceof AppError) {
      const status = STATUS_BY_CODE[err.code] ?? 500;
      if (status >= 500) logger.error('admin API request failed', { method: req.method, url: req.url, code: err.code, error: err.message });
      return reply.code(status).send({ error: err.code, message: err.message, ...(err instanceof FieldError ? { field: err.field } : {}) });
    }
    const status = (err as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) return reply.code(status).send({ error: (err as FastifyError).code ?? 'BAD_REQUEST', message: err.message });
    logger.error('admin API request failed', { method: req.method, url: req.url, error: err.stack ?? err.message });
    return reply.code(500).send({ error: 'INTERNAL_ERROR', message: 'internal error; see the log' });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` }));

  const doc = openApiDocument(routes);
  app.get('/openapi.json', async () => doc);
  for (const r of routes) {
    app.route({ method: r.method, url: r.url, schema: r.schema, handler: r.handler });
  }
  return app;
}

/**
 * Starts the admin API. Without a token it does not start at all (an operator API without
 * authentication is never served, not even on loopback): the caller logs that and goes on.
 */
export async function startAdminServer(deps: AdminDeps, opts: AdminServerOptions, logger: Logger): Promise<AdminServer> {
  if (opts.token.trim() === '') throw new AppError('ADMIN_NO_TOKEN', 'admin.token is empty');
  const app = buildAdminApp(deps, opts.token, logger);
  await app.listen({ host: opts.address, port: opts.port });
  const addr = app.server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  const host = opts.address.includes(':') ? `[${opts.address}]` : opts.address;
  const url = `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  logger.info('admin API listening', { url });
  return { address: opts.address, port, url, close: () => app.close() };
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}
