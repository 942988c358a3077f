import type { RouteDoc } from './routes';

/** The OpenAPI 3.1 document of the admin API, built from the same route table fastify serves. */
export function openApiDocument(routes: readonly RouteDoc[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const r of routes) {
    const path = r.url.replace(/:(\w+)/g, '{$1}');
    const parameters: unknown[] = [];
    for (const [where, schema] of [['path', r.schema?.params], ['query', r.schema?.querystring]] as const) {
      const props = (schema?.properties ?? {}) as Record<string, Record<string, unknown>>;
      const required = (schema?.required ?? []) as string[];
      for (const [name, s] of Object.entries(props)) {
        const { description, ...rest } = s;
        parameters.push({ name, in: where, required: where === 'path' || required.includes(name), description, schema: rest });
      }
    }
    const responses: Record<string, unknown> = {};
    for (const [status, resp] of Object.entries(r.responses)) {
      responses[status] = {
        description: resp.description,
        ...(resp.schema ? { content: { [resp.contentType ?? 'application/json']: { schema: resp.schema } } } : {}),
      };
    }
    paths[path] ??= {};
    paths[path]![r.method.toLowerCase()] = {
      summary: r.summary,
      ...(r.open ? { security: [] } : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      ...(r.schema?.body ? { requestBody: { required: true, content: { 'application/json': { schema: r.schema.body } } } } : {}),
      responses,
    };
  }
  paths['/openapi.json'] = { get: { summary: 'This document', security: [], responses: { 200: { description: 'OpenAPI 3.1 document', content: { 'application/json': { schema: { type: 'object' } } } } } } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'Tollgate admin API',
      version: '1',
      description: 'Accounts and top-ups, live calls, tariff and VPN dry runs, reload, metrics and health of one Tollgate application instance. '
        + 'Every route except /health, /ready and /openapi.json needs `Authorization: Bearer <admin.token>`. '
        + 'Money is a decimal string with at most 6 decimals ("12.50"), never a JSON number. Errors are `{ "error": CODE, "message": text }`.',
    },
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths,
  };
}
