import { createHash, timingSafeEqual } from 'node:crypto';
import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifySchema } from 'fastify';
import { AppError } from '../../lib/common/errors';
import type { Logger } from '../../lib/common/logger';
import { CONSOLE_PREFIX, registerConsole } from './console';
import { adminRoutes, FieldError, type AdminDeps, type RouteDoc } from './routes';
import { groupRoutes } from './group-routes';
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
  VPN_NOT_FOUND: 404, VPN_INVALID: 400, VPN_CONFLICT: 409, VPN_IN_USE: 409, VPN_DIRECTORY_INVALID: 422,
};

/**
 * Fastify's own refusals (body parsing, media type, size) in our words: its codes are its
 * internals, not part of this API's contract.
 */
const HTTP_REFUSALS: Record<number, { error: string; message: string }> = {
  400: { error: 'BAD_REQUEST', message: 'the request could not be read' },
  404: { error: 'NOT_FOUND', message: 'no such route' },
  405: { error: 'METHOD_NOT_ALLOWED', message: 'method not allowed here' },
  406: { error: 'NOT_ACCEPTABLE', message: 'cannot answer in the media type asked for' },
  411: { error: 'LENGTH_REQUIRED', message: 'Content-Length is required' },
  413: { error: 'BODY_TOO_LARGE', message: 'the body is larger than 64 KiB' },
  415: { error: 'UNSUPPORTED_MEDIA_TYPE', message: 'send the body as JSON with Content-Type: application/json' },
};
const BODY_REFUSALS: Record<string, string> = {
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the body is empty; send a JSON object (or no Content-Type header)',
  FST_ERR_CTP_INVALID_JSON_BODY: 'the body is not valid JSON',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'Content-Length does not match the body',
};

/** Where the OpenAPI document and Swagger UI are served; both need no token (they hold no data). */
export const OPENAPI_PATH = '/openapi.json';
export const DOCS_PREFIX = '/docs';

const API_DESCRIPTION = 'Accounts and top-ups, CDRs, live calls, tariff and VPN dry runs, reload, metrics and health of one Tollgate application instance. '
  + `Every route except /health, /ready, ${OPENAPI_PATH}, ${DOCS_PREFIX} and ${CONSOLE_PREFIX} (the web console, whose calls carry the token) needs \`Authorization: Bearer <admin.token>\`. `
  + 'Money is a decimal string with at most 6 decimals ("12.50"), never a JSON number. Errors are `{ "error": CODE, "message": text, "field"?: name }`.';

/** The admin API as a fastify instance, not listening (tests use inject()). */
export function buildAdminApp(deps: AdminDeps, token: string, logger: Logger): FastifyInstance {
  const app = Fastify({
    logger: false,
    bodyLimit: 64 * 1024,
    ajv: { customOptions: { removeAdditional: false, formats: { money: new RegExp(MONEY_PATTERN) } } },
  });
  // Response schemas document the answers; they do not filter them (fast-json-stringify would drop
  // fields a schema leaves open).
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // Bodies are JSON only: anything else is 415, not a string the schema then refuses.
  app.removeContentTypeParser('text/plain');
  const routes = [...adminRoutes(deps), ...groupRoutes(deps.groups)];
  const open = new Set([OPENAPI_PATH, ...routes.filter((r) => r.open).map((r) => r.url)]);
  const expected = digest(token);

  app.addHook('onRequest', async (req, reply) => {
    const url = req.routeOptions.url ?? '';
    if (open.has(url) || [DOCS_PREFIX, CONSOLE_PREFIX].some((p) => url === p || url.startsWith(`${p}/`))) return;
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
      return reply.code(400).send({ error: 'BAD_REQUEST', message, ...(name ? { field: name } : {}) });
    }
    if (err instanceof AppError) {
      const status = STATUS_BY_CODE[err.code] ?? 500;
      if (status >= 500) logger.error('admin API request failed', { method: req.method, url: req.url, code: err.code, error: err.message });
      return reply.code(status).send({ error: err.code, message: err.message, ...(err instanceof FieldError ? { field: err.field } : {}) });
    }
    const status = (err as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      const known = HTTP_REFUSALS[status] ?? { error: 'BAD_REQUEST', message: 'the request was refused' };
      const message = BODY_REFUSALS[(err as FastifyError).code ?? ''] ?? known.message;
      return reply.code(status).send({ error: known.error, message });
    }
    logger.error('admin API request failed', { method: req.method, url: req.url, error: err.stack ?? err.message });
    return reply.code(500).send({ error: 'INTERNAL_ERROR', message: 'internal error; see the log' });
  });
  app.setNotFoundHandler((req, reply) => reply.code(404).send({ error: 'NOT_FOUND', message: `no route ${req.method} ${req.url}` }));

  // The OpenAPI document is generated from the route schemas below: what is validated is what is documented.
  void app.register(fastifySwagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Tollgate admin API', version: '1', description: API_DESCRIPTION },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
      security: [{ bearer: [] }],
    },
  });
  void app.register(fastifySwaggerUi, {
    routePrefix: DOCS_PREFIX,
    uiConfig: { persistAuthorization: false, tryItOutEnabled: true },
    // The UI is served from this process only; nothing is fetched from elsewhere.
    staticCSP: "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self'; object-src 'none'; frame-ancestors 'self'",
  });
  void app.register(async (scope) => {
    scope.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());
    registerConsole(scope);
    for (const r of routes) scope.route({ method: r.method, url: r.url, schema: routeSchema(r), handler: r.handler });
  });
  return app;
}

/** A route's schema as fastify validates it and @fastify/swagger documents it. */
function routeSchema(r: RouteDoc): FastifySchema {
  const response: Record<string, unknown> = {};
  for (const [status, resp] of Object.entries(r.responses)) {
    response[status] = resp.contentType
      ? { description: resp.description, content: { [resp.contentType]: { schema: resp.schema ?? { type: 'string' } } } }
      : { description: resp.description, ...(resp.schema ?? {}) };
  }
  return {
    summary: r.summary,
    ...(r.open ? { security: [] } : {}),
    ...(r.schema?.params ? { params: r.schema.params } : {}),
    ...(r.schema?.querystring ? { querystring: r.schema.querystring } : {}),
    ...(r.schema?.body ? { body: r.schema.body } : {}),
    response,
  } as FastifySchema;
}

/**
 * Starts the admin API. Without a token it does not start at all (an operator API without
 * authentication is never served, not even on loopback): the caller logs that and goes on.
 */
export async function startAdminServer(deps: AdminDeps, opts: AdminServerOptions, logger: Logger): Promise<AdminServer> {
  if (opts.token.trim() === '') throw new AppError('ADMIN_NO_TOKEN', 'admin.token is empty');
  const app = buildAdminApp(deps, opts.token, logger);
  try {
    await app.listen({ host: opts.address, port: opts.port });
  } catch (err) {
    await app.close();
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE') throw new AppError('ADMIN_PORT_IN_USE', `admin.port ${opts.port} on ${opts.address} is already in use (another Tollgate, or another program, listens there): set admin.port to a free port`, undefined, { cause: err });
    if (code === 'EACCES') throw new AppError('ADMIN_PORT_FORBIDDEN', `admin.port ${opts.port} on ${opts.address} may not be opened by this user: set admin.port above 1023`, undefined, { cause: err });
    if (code === 'EADDRNOTAVAIL') throw new AppError('ADMIN_ADDRESS_UNAVAILABLE', `admin.address ${opts.address} is not an address of this host`, undefined, { cause: err });
    throw err;
  }
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
