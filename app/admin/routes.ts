import { Readable } from 'node:stream';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError } from '../../lib/common/errors';
import { formatMoney } from '../../lib/common/money';
import { parseAmount, type AccountPatch, type AccountService, type NewAccount } from '../../lib/prepaid';
import type { RatingService, ServiceAttributes } from '../../lib/rating';
import type { VpnService } from '../../lib/vpn';
import type { CdrFilter, CdrRepository } from '../../lib/db/cdr-repository';
import type { LiveCallView } from '../calls/call-session';
import type { TollgateMetrics } from '../metrics';
import { cdrCsvHeader, cdrCsvLine, cdrFilterFrom, cdrJson, decodeCursor, encodeCursor, type CdrFilterText } from './cdr-format';
import { accountJson, entryJson, liveCallJson, quoteJson } from './json';
import type { GroupAdminDeps } from './group-routes';
import type { ReloadReport } from './reload';
import * as S from './schemas';

/** What the admin API works on; main.ts passes the running application's parts. */
export interface AdminDeps {
  instanceId: string;
  accounts: AccountService;
  calls: {
    liveCalls(): LiveCallView[];
    /** Ends a live call (settled like any other end); false when there is no such call. */
    endCall(callId: string): Promise<boolean>;
  };
  /** CDR reads (the database's CDR repository). */
  cdrs: Pick<CdrRepository, 'findPage' | 'stream' | 'findByCallId' | 'findBySipCallId'>;
  rating: RatingService;
  vpn: VpnService;
  reload(reason: string): Promise<ReloadReport>;
  metrics: TollgateMetrics;
  /** Resolves when the database answers a trivial query. */
  pingDatabase(): Promise<void>;
  sipConnected(): boolean;
  /** True from SIGTERM on: new calls get 503 and the instance is no longer ready. */
  draining(): boolean;
  /** Money came into an account (top-up, positive adjustment). */
  moneyIn?(accountId: number): void;
  /** With a media server configured: its health; a lost one degrades the instance, never makes it unready. */
  mediaServer?(): 'up' | 'degraded';
  /** Enterprise VPN features (app/admin/group-routes.ts); absent: those routes are not served. */
  groups?: GroupAdminDeps;
}

/** One documented route: fastify serves it, the OpenAPI file describes it. */
export interface RouteDoc {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  url: string;
  summary: string;
  open?: boolean;
  schema?: { body?: Record<string, unknown>; params?: Record<string, unknown>; querystring?: Record<string, unknown> };
  responses: Record<string, { description: string; schema?: Record<string, unknown>; contentType?: string }>;
}

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

const AUTH_ERRORS = { 400: { description: 'bad input; the message names the field', schema: S.errorOut }, 401: { description: 'missing or wrong token', schema: S.errorOut } };

export function adminRoutes(deps: AdminDeps): Array<RouteDoc & { handler: Handler }> {
  const account = (req: FastifyRequest) => deps.accounts.resolve((req.params as { account: string }).account);
  const field = (name: string, fn: () => bigint): bigint => {
    try { return fn(); } catch (err) { throw withField(err, name); }
  };
  const optionalMoney = (name: string, v: string | null | undefined): bigint | null | undefined =>
    v === undefined ? undefined : v === null ? null : field(name, () => parseAmount(v, name));
  const optionalDate = (v: string | null | undefined): Date | null | undefined => (v === undefined ? undefined : v === null ? null : new Date(v));

  const cdrFilter = async (q: CdrFilterText & { account?: string }): Promise<CdrFilter> => {
    const f = cdrFilterFrom(q, { from: 'querystring/from', to: 'querystring/to', group: 'querystring/group', caller: 'querystring/caller', disposition: 'querystring/disposition' });
    if (q.account !== undefined) f.accountId = (await deps.accounts.resolve(q.account)).id;
    return f;
  };

  return [
    {
      method: 'GET', url: '/health', summary: 'Liveness: the process answers', open: true,
      responses: { 200: { description: 'alive', schema: { type: 'object', properties: { status: { type: 'string' }, instanceId: { type: 'string' }, uptimeSeconds: { type: 'number' }, liveCalls: { type: 'integer' }, draining: { type: 'boolean' } } } } },
      handler: async () => ({ status: 'ok', instanceId: deps.instanceId, uptimeSeconds: Math.round(process.uptime()), liveCalls: deps.calls.liveCalls().length, draining: deps.draining() }),
    },
    {
      method: 'GET', url: '/ready', summary: 'Readiness: the database answers, the SIP server connection is up, and the instance is not draining', open: true,
      responses: {
        200: { description: 'ready', schema: readySchema },
        503: { description: 'not ready; the body says which part is down', schema: readySchema },
      },
      handler: async (_req, reply) => {
        const database = await withTimeout(deps.pingDatabase(), 2000).then(() => 'up', () => 'down');
        const sip = deps.sipConnected() ? 'connected' : 'disconnected';
        const draining = deps.draining();
        const ready = database === 'up' && sip === 'connected' && !draining;
        reply.code(ready ? 200 : 503);
        return deps.mediaServer ? { ready, database, sip, draining, media: deps.mediaServer() } : { ready, database, sip, draining };
      },
    },
    {
      method: 'GET', url: '/metrics', summary: 'Prometheus metrics (text exposition format)',
      responses: { 200: { description: 'metrics', contentType: 'text/plain', schema: { type: 'string' } }, ...AUTH_ERRORS },
      handler: async (_req, reply) => {
        reply.header('Content-Type', deps.metrics.contentType);
        return deps.metrics.text();
      },
    },
    {
      method: 'POST', url: '/accounts', summary: 'Open an account (balance 0: top it up afterwards)',
      schema: { body: S.newAccountBody },
      responses: { 201: { description: 'created', schema: S.accountOut }, 409: { description: 'code already used', schema: S.errorOut }, ...AUTH_ERRORS },
      handler: async (req, reply) => {
        const b = req.body as { code: string; kind: 'prepaid' | 'postpaid'; currency: string; status?: NewAccount['status']; creditLimit?: string; lowBalanceThreshold?: string | null; maxCalls?: number | null; expiresAt?: string | null };
        const input: NewAccount = {
          code: b.code, kind: b.kind, currency: b.currency, status: b.status,
          creditLimit: optionalMoney('creditLimit', b.creditLimit) ?? undefined,
          lowBalanceThreshold: optionalMoney('lowBalanceThreshold', b.lowBalanceThreshold), maxCalls: b.maxCalls, expiresAt: optionalDate(b.expiresAt),
        };
        const created = await deps.accounts.create(input);
        reply.code(201);
        return accountJson(created);
      },
    },
    {
      method: 'GET', url: '/accounts', summary: 'Accounts by id, with balance, reserved and available money',
      schema: { querystring: S.accountListQuery },
      responses: { 200: { description: 'a page of accounts', schema: { type: 'object', properties: { total: { type: 'integer', description: 'matching accounts' }, count: { type: 'integer' }, accounts: { type: 'array', items: S.accountOut } } } }, ...AUTH_ERRORS },
      handler: async (req) => {
        const q = req.query as { status?: string; kind?: string; limit: number; offset: number };
        const all = (await deps.accounts.list()).filter((a) => (q.status === undefined || a.status === q.status) && (q.kind === undefined || a.kind === q.kind));
        const accounts = all.slice(q.offset, q.offset + q.limit).map(accountJson);
        return { total: all.length, count: accounts.length, accounts };
      },
    },
    {
      method: 'GET', url: '/accounts/:account', summary: 'Balance, reserved money, limits and status of an account',
      schema: { params: S.accountRefParams },
      responses: { 200: { description: 'the account', schema: S.accountOut }, 404: { description: 'no such account', schema: S.errorOut }, ...AUTH_ERRORS },
      handler: async (req) => accountJson(await account(req)),
    },
    {
      method: 'PATCH', url: '/accounts/:account', summary: 'Change status, limits or expiry of an account',
      schema: { params: S.accountRefParams, body: S.accountPatchBody },
      responses: { 200: { description: 'the account as changed', schema: S.accountOut }, 404: { description: 'no such account', schema: S.errorOut }, ...AUTH_ERRORS },
      handler: async (req) => {
        const b = req.body as { status?: AccountPatch['status']; creditLimit?: string; lowBalanceThreshold?: string | null; maxCalls?: number | null; expiresAt?: string | null };
        const patch: AccountPatch = {
          status: b.status, creditLimit: optionalMoney('creditLimit', b.creditLimit) ?? undefined,
          lowBalanceThreshold: optionalMoney('lowBalanceThreshold', b.lowBalanceThreshold), maxCalls: b.maxCalls, expiresAt: optionalDate(b.expiresAt),
        };
        for (const k of Object.keys(patch) as Array<keyof AccountPatch>) if (patch[k] === undefined) delete patch[k];
        return accountJson(await deps.accounts.update((await account(req)).id, patch));
      },
    },
    posting(deps, 'topups', 'top-up', account, field),
    posting(deps, 'adjustments', 'adjustment', account, field),
    {
      method: 'GET', url: '/accounts/:account/ledger', summary: 'Ledger entries of an account, newest first',
      schema: { params: S.accountRefParams, querystring: S.ledgerQuery },
      responses: { 200: { description: 'entries', schema: { type: 'object', properties: { account: S.accountOut, entries: { type: 'array', items: S.entryOut } } } }, 404: { description: 'no such account', schema: S.errorOut }, ...AUTH_ERRORS },
      handler: async (req) => {
        const a = await account(req);
        const { limit } = req.query as { limit: number };
        return { account: accountJson(a), entries: (await deps.accounts.ledger(a.id, limit)).map(entryJson) };
      },
    },
    {
      method: 'GET', url: '/calls', summary: 'Live calls on this instance: SIP Call-ID, caller, callee, account, trunks, start, granted and remaining seconds, money reserved and spent so far',
      responses: { 200: { description: 'live calls', schema: { type: 'object', properties: { count: { type: 'integer' }, calls: { type: 'array', items: S.liveCallOut } } } }, ...AUTH_ERRORS },
      handler: async () => {
        const calls = deps.calls.liveCalls().map(liveCallJson);
        return { count: calls.length, calls };
      },
    },
    {
      method: 'GET', url: '/calls/:callId', summary: 'One live call',
      schema: { params: S.callIdParams },
      responses: { 200: { description: 'the call', schema: S.liveCallOut }, 404: { description: 'no such live call', schema: S.errorOut }, ...AUTH_ERRORS },
      handler: async (req) => {
        const { callId } = req.params as { callId: string };
        const call = deps.calls.liveCalls().find((c) => c.callId === callId);
        if (!call) throw new AppError('UNKNOWN_CALL', `no live call ${callId}`);
        return liveCallJson(call);
      },
    },
    {
      method: 'DELETE', url: '/calls/:callId', summary: 'End a live call now: BYE to both legs, settled like any other end (release cause "admin")',
      schema: { params: S.callIdParams },
      responses: { 200: { description: 'ended and settled', schema: { type: 'object', properties: { callId: { type: 'string' }, ended: { type: 'boolean' } } } }, 404: { description: 'no such live call', schema: S.errorOut }, ...AUTH_ERRORS },
      handler: async (req) => {
        const { callId } = req.params as { callId: string };
        if (!(await deps.calls.endCall(callId))) throw new AppError('UNKNOWN_CALL', `no live call ${callId}`);
        return { callId, ended: true };
      },
    },
    {
      method: 'GET', url: '/cdrs', summary: 'CDRs, newest first, filtered by time, account, group, caller and disposition; a page at a time',
      schema: { querystring: S.cdrListQuery },
      responses: {
        200: { description: 'a page of CDRs; next is the cursor of the following page (null on the last)', schema: { type: 'object', properties: { count: { type: 'integer' }, next: { type: ['string', 'null'] }, cdrs: { type: 'array', items: S.cdrOut } } } },
        404: { description: 'no such account', schema: S.errorOut }, ...AUTH_ERRORS,
      },
      handler: async (req, reply) => {
        const q = req.query as CdrFilterText & { account?: string; limit: number; cursor?: string; format: 'json' | 'csv' };
        const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor);
        const page = await deps.cdrs.findPage(await cdrFilter(q), { limit: q.limit, after });
        const next = page.next ? encodeCursor(page.next) : null;
        if (q.format === 'csv') {
          reply.header('Content-Type', 'text/csv; charset=utf-8');
          if (next) reply.header('X-Next-Cursor', next);
          return cdrCsvHeader() + page.cdrs.map(cdrCsvLine).join('');
        }
        return { count: page.cdrs.length, next, cdrs: page.cdrs.map(cdrJson) };
      },
    },
    {
      method: 'GET', url: '/cdrs/export', summary: 'Every matching CDR, oldest first, streamed as CSV or NDJSON (read a page at a time: memory stays bounded)',
      schema: { querystring: S.cdrExportQuery },
      responses: { 200: { description: 'the CDRs', contentType: 'text/csv', schema: { type: 'string' } }, 404: { description: 'no such account', schema: S.errorOut }, ...AUTH_ERRORS },
      handler: async (req, reply) => {
        const q = req.query as CdrFilterText & { account?: string; format: 'csv' | 'ndjson' };
        const rows = deps.cdrs.stream(await cdrFilter(q));
        async function* lines(): AsyncGenerator<string> {
          if (q.format === 'csv') yield cdrCsvHeader();
          for await (const c of rows) yield q.format === 'csv' ? cdrCsvLine(c) : `${JSON.stringify(cdrJson(c))}\n`;
        }
        reply.header('Content-Type', q.format === 'csv' ? 'text/csv; charset=utf-8' : 'application/x-ndjson');
        return reply.send(Readable.from(lines()));
      },
    },
    {
      method: 'GET', url: '/cdrs/:callId', summary: "One CDR by Tollgate's call id or by the SIP Call-ID",
      schema: { params: S.callIdParams },
      responses: { 200: { description: 'the CDR', schema: S.cdrOut }, 404: { description: 'no CDR for that call', schema: S.errorOut }, ...AUTH_ERRORS },
      handler: async (req) => {
        const { callId } = req.params as { callId: string };
        const cdr = (await deps.cdrs.findByCallId(callId)) ?? (await deps.cdrs.findBySipCallId(callId));
        if (!cdr) throw new AppError('UNKNOWN_CALL', `no CDR for call ${callId}`);
        return cdrJson(cdr);
      },
    },
    {
      method: 'POST', url: '/rating/dry-run', summary: 'Price a hypothetical call with the rule set in force: matched rule and tariff, breakdown, and what an amount buys',
      schema: { body: S.tariffDryRunBody },
      responses: { 200: { description: 'the price', schema: { type: 'object' } }, 422: { description: 'no charging rule matches (NO_RULE)', schema: S.errorOut }, ...AUTH_ERRORS },
      handler: async (req) => {
        const b = req.body as { service: string; destination: string; plan?: string | null; group?: string | null; start?: string; seconds: number; money?: string };
        const attributes: ServiceAttributes = { service: b.service, destination: b.destination, callerPlan: b.plan ?? null, vpnGroup: b.group ?? null };
        const start = b.start === undefined ? new Date() : new Date(b.start);
        const money = b.money === undefined ? undefined : field('money', () => parseAmount(b.money!, 'money'));
        const quote = deps.rating.quote(attributes, start);
        const result: Record<string, unknown> = { attributes, start: start.toISOString(), ...quoteJson(quote, quote.priceBreakdown(b.seconds)) };
        if (money !== undefined) Object.assign(result, { money: formatMoney(money), maxSeconds: quote.maxSeconds(money) });
        return result;
      },
    },
    {
      method: 'POST', url: '/vpn/resolve', summary: 'How a call from a caller dialling some digits resolves with the directory in force (scope, callee, barring, routes)',
      schema: { body: S.vpnDryRunBody },
      responses: { 200: { description: 'the resolution, or the refusal with its SIP status', schema: { type: 'object', properties: { ok: { type: 'boolean' }, resolution: { type: 'object' }, refusal: { type: 'object' } } } }, ...AUTH_ERRORS },
      handler: async (req) => {
        const b = req.body as { caller: string; dialled: string };
        return deps.vpn.resolveCall({ caller: b.caller, dialled: b.dialled });
      },
    },
    {
      method: 'POST', url: '/reload', summary: 'Re-read the rating rule tables and the VPN directory now (each is validated whole; an invalid set is reported and the one in force stays)',
      responses: { 200: { description: 'what each reload found', schema: { type: 'object' } }, ...AUTH_ERRORS },
      handler: async () => deps.reload('admin API'),
    },
  ];
}

function posting(
  deps: AdminDeps, path: 'topups' | 'adjustments', what: 'top-up' | 'adjustment',
  account: (req: FastifyRequest) => ReturnType<AccountService['resolve']>, field: (name: string, fn: () => bigint) => bigint,
): RouteDoc & { handler: Handler } {
  return {
    method: 'POST', url: `/accounts/:account/${path}`,
    summary: what === 'top-up'
      ? 'Add money; idempotent by key (a replay returns the first entry and changes nothing)'
      : 'Signed correction of the balance; idempotent by key; a negative one may not take the available money below zero',
    schema: { params: S.accountRefParams, body: S.postingBody(what) },
    responses: {
      201: { description: 'posted: the new ledger entry', schema: S.entryOut },
      200: { description: 'a replay of the same key: the entry first posted; nothing changed', schema: S.entryOut },
      404: { description: 'no such account', schema: S.errorOut },
      409: { description: 'key used for a different posting, currency mismatch, or not enough money', schema: S.errorOut },
      ...AUTH_ERRORS,
    },
    handler: async (req, reply) => {
      const b = req.body as { amount: string; key: string; currency?: string; note?: string };
      const amount = field('amount', () => parseAmount(b.amount));
      const a = await account(req);
      const opts = { currency: b.currency, note: b.note };
      const entry = await (what === 'top-up' ? deps.accounts.topup(a.id, amount, b.key, opts) : deps.accounts.adjust(a.id, amount, b.key, opts)).catch((err: unknown) => {
        throw err instanceof AppError && err.code === 'INVALID_AMOUNT' ? withField(err, 'amount') : err;
      });
      if (!entry.replay && entry.amount > 0n) deps.moneyIn?.(a.id);
      reply.code(entry.replay ? 200 : 201);
      return entryJson(entry);
    },
  };
}

const readySchema = { type: 'object', properties: { ready: { type: 'boolean' }, database: { type: 'string', enum: ['up', 'down'] }, sip: { type: 'string', enum: ['connected', 'disconnected'] }, draining: { type: 'boolean' }, media: { type: 'string', enum: ['up', 'degraded'] } } };

/** A domain input error tied to the body field it came from. */
export class FieldError extends AppError {
  constructor(readonly field: string, cause: AppError) {
    super(cause.code, `body/${field}: ${cause.message}`, cause.details, { cause });
  }
}

function withField(err: unknown, name: string): unknown {
  return err instanceof AppError && !(err instanceof FieldError) ? new FieldError(name, err) : err;
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms); }),
  ]);
}
