import type { FastifyReply, FastifyRequest } from 'fastify';
import { formatMoney, parseMoney, type Micros } from '../../lib/common/money';
import { AppError } from '../../lib/common/errors';
import type { VpnRepository } from '../../lib/db/vpn-repository';
import { CALL_CLASSES, GROUP_STATUSES, type CallClass, type GroupStatus } from '../../lib/vpn';
import type { RouteDoc } from './routes';

/**
 * Admin API of the enterprise VPN features: group status and private-call prefix, members'
 * personal accounts, closed user groups, short codes and screening rules. Every write is validated
 * against the whole directory before it commits (as the CLI), and then the directory in force is
 * reloaded so the change holds for the next call.
 */
export interface GroupAdminDeps {
  /** A validated change of the stored directory (VpnRepository.changeValidated with the numbering plan). */
  change<T>(fn: (repo: VpnRepository) => Promise<T>): Promise<T>;
  read<T>(fn: (repo: VpnRepository) => Promise<T>): Promise<T>;
  /** Re-read the directory now. */
  reload(reason: string): Promise<unknown>;
  /** A member's caps changed (and the directory was reloaded): open its cap accounts for now and ahead, so they hold for its next call. */
  capsChanged?(memberId: number): Promise<unknown>;
}

type Handler = (req: FastifyRequest, reply: FastifyReply) => Promise<unknown>;

const ERRORS = {
  400: { description: 'bad input' }, 401: { description: 'missing or wrong token' }, 404: { description: 'no such group, member, CUG, short code or rule' },
  409: { description: 'already exists' }, 422: { description: 'the change would make the directory invalid (problems listed)' },
};
const str = { type: 'string' };
const nullableStr = { type: ['string', 'null'] };
const groupParam = { type: 'object', required: ['group'], properties: { group: str } };

export function groupRoutes(deps: GroupAdminDeps | undefined): Array<RouteDoc & { handler: Handler }> {
  if (!deps) return [];
  const changed = async <T>(fn: (repo: VpnRepository) => Promise<T>): Promise<T> => {
    const result = await deps.change(fn);
    await deps.reload('admin API: VPN group change');
    return result;
  };
  const p = <T>(req: FastifyRequest) => req.params as T;
  const cap = (name: string, v: string | null | undefined): Micros | null | undefined => {
    if (v === undefined || v === null) return v;
    try {
      const m = parseMoney(v);
      if (m > 0n) return m;
    } catch { /* reported below */ }
    throw new AppError('BAD_REQUEST', `body/${name} must be a positive decimal amount as a string ("5.00"), or null`);
  };
  const money = (v: Micros | null | undefined) => (v === null || v === undefined ? null : formatMoney(v));
  return [
    {
      method: 'PATCH', url: '/groups/:group/budget', summary: 'Pay the group\'s business calls from a prepaid account (its pool); null: each member\'s own account',
      schema: { params: groupParam, body: { type: 'object', required: ['poolAccountId'], additionalProperties: false, properties: { poolAccountId: { type: ['integer', 'null'], minimum: 1 } } } },
      responses: { 200: { description: 'the group' }, ...ERRORS },
      handler: async (req) => changed((repo) => repo.setPool(p<{ group: string }>(req).group, (req.body as { poolAccountId: number | null }).poolAccountId)),
    },
    {
      method: 'PATCH', url: '/groups/:group/members/:extension/caps', summary: 'Caps on a member\'s business calls on top of the pool: per call, per local day, per month (null clears one)',
      schema: {
        params: { type: 'object', required: ['group', 'extension'], properties: { group: str, extension: str } },
        body: { type: 'object', additionalProperties: false, properties: { perCall: nullableStr, perDay: nullableStr, perMonth: nullableStr } },
      },
      responses: { 200: { description: 'the member with its caps' }, ...ERRORS },
      handler: async (req) => {
        const { group, extension } = p<{ group: string; extension: string }>(req);
        const b = req.body as { perCall?: string | null; perDay?: string | null; perMonth?: string | null };
        const m = await changed((repo) => repo.setCaps(group, extension, { perCall: cap('perCall', b.perCall), perDay: cap('perDay', b.perDay), perMonth: cap('perMonth', b.perMonth) }));
        await deps.capsChanged?.(m.id);
        return { ...m, caps: { perCall: money(m.caps?.perCall), perDay: money(m.caps?.perDay), perMonth: money(m.caps?.perMonth) } };
      },
    },
    {
      method: 'PATCH', url: '/groups/:group', summary: 'Set a VPN group\'s private-call prefix and status (suspended or closed: its members neither call nor are called)',
      schema: {
        params: groupParam,
        body: { type: 'object', additionalProperties: false, properties: { privatePrefix: nullableStr, status: { type: 'string', enum: [...GROUP_STATUSES] } } },
      },
      responses: { 200: { description: 'the group' }, ...ERRORS },
      handler: async (req) => {
        const b = req.body as { privatePrefix?: string | null; status?: GroupStatus };
        return changed((repo) => repo.updateGroup(p<{ group: string }>(req).group, { privatePrefix: b.privatePrefix, status: b.status }));
      },
    },
    {
      method: 'PATCH', url: '/groups/:group/members/:extension', summary: 'Set a member\'s personal account and plan, which pay and rate its private calls',
      schema: {
        params: { type: 'object', required: ['group', 'extension'], properties: { group: str, extension: str } },
        body: { type: 'object', additionalProperties: false, properties: { personalAccountId: { type: ['integer', 'null'], minimum: 1 }, personalPlan: nullableStr } },
      },
      responses: { 200: { description: 'the member' }, ...ERRORS },
      handler: async (req) => {
        const { group, extension } = p<{ group: string; extension: string }>(req);
        const b = req.body as { personalAccountId?: number | null; personalPlan?: string | null };
        const m = await changed((repo) => repo.updateMember(group, extension, { personalAccountId: b.personalAccountId, personalPlan: b.personalPlan }));
        return { ...m, caps: { perCall: money(m.caps?.perCall), perDay: money(m.caps?.perDay), perMonth: money(m.caps?.perMonth) } };
      },
    },
    {
      method: 'GET', url: '/cugs', summary: 'Closed user groups and their memberships',
      responses: { 200: { description: 'CUGs with members' }, ...ERRORS },
      handler: async () => deps.read(async (repo) => ({ cugs: await repo.listCugs(), members: await repo.listCugMembers() })),
    },
    {
      method: 'POST', url: '/cugs', summary: 'Create a closed user group',
      schema: { body: { type: 'object', required: ['code', 'name'], additionalProperties: false, properties: { code: str, name: str } } },
      responses: { 201: { description: 'the CUG' }, ...ERRORS },
      handler: async (req, reply) => {
        const b = req.body as { code: string; name: string };
        const cug = await changed((repo) => repo.addCug(b.code, b.name));
        return reply.code(201).send(cug);
      },
    },
    {
      method: 'DELETE', url: '/cugs/:cug', summary: 'Delete a closed user group and its memberships',
      schema: { params: { type: 'object', required: ['cug'], properties: { cug: str } } },
      responses: { 204: { description: 'deleted' }, ...ERRORS },
      handler: async (req, reply) => {
        await changed((repo) => repo.removeCug(p<{ cug: string }>(req).cug));
        return reply.code(204).send();
      },
    },
    {
      method: 'POST', url: '/cugs/:cug/members/:group/:extension', summary: 'Put a member in a closed user group, or change its outgoing and incoming access there',
      schema: {
        params: { type: 'object', required: ['cug', 'group', 'extension'], properties: { cug: str, group: str, extension: str } },
        body: { type: 'object', additionalProperties: false, properties: { outgoingAccess: { type: 'boolean' }, incomingAccess: { type: 'boolean' } } },
      },
      responses: { 200: { description: 'the membership' }, ...ERRORS },
      handler: async (req) => {
        const { cug, group, extension } = p<{ cug: string; group: string; extension: string }>(req);
        const b = (req.body ?? {}) as { outgoingAccess?: boolean; incomingAccess?: boolean };
        return changed((repo) => repo.putCugMember({ cugCode: cug, groupCode: group, extension, outgoingAccess: b.outgoingAccess, incomingAccess: b.incomingAccess }));
      },
    },
    {
      method: 'DELETE', url: '/cugs/:cug/members/:group/:extension', summary: 'Take a member out of a closed user group',
      schema: { params: { type: 'object', required: ['cug', 'group', 'extension'], properties: { cug: str, group: str, extension: str } } },
      responses: { 204: { description: 'removed' }, ...ERRORS },
      handler: async (req, reply) => {
        const { cug, group, extension } = p<{ cug: string; group: string; extension: string }>(req);
        await changed((repo) => repo.removeCugMember(cug, group, extension));
        return reply.code(204).send();
      },
    },
    {
      method: 'GET', url: '/groups/:group/short-codes', summary: 'A group\'s short codes for outside numbers (virtual on-net)',
      schema: { params: groupParam },
      responses: { 200: { description: 'short codes' }, ...ERRORS },
      handler: async (req) => deps.read((repo) => repo.listShortCodes(p<{ group: string }>(req).group)),
    },
    {
      method: 'POST', url: '/groups/:group/short-codes', summary: 'Add a short code: every member of the group dials it for an outside number, rated by the given service',
      schema: {
        params: groupParam,
        body: { type: 'object', required: ['code', 'e164'], additionalProperties: false, properties: { code: str, e164: str, service: nullableStr, description: nullableStr } },
      },
      responses: { 201: { description: 'the short code' }, ...ERRORS },
      handler: async (req, reply) => {
        const b = req.body as { code: string; e164: string; service?: string | null; description?: string | null };
        const row = await changed((repo) => repo.addShortCode({ groupCode: p<{ group: string }>(req).group, code: b.code, e164: b.e164.replace(/^\+/, ''), service: b.service ?? null, description: b.description ?? null }));
        return reply.code(201).send(row);
      },
    },
    {
      method: 'DELETE', url: '/groups/:group/short-codes/:code', summary: 'Delete a short code',
      schema: { params: { type: 'object', required: ['group', 'code'], properties: { group: str, code: str } } },
      responses: { 204: { description: 'deleted' }, ...ERRORS },
      handler: async (req, reply) => {
        const { group, code } = p<{ group: string; code: string }>(req);
        await changed((repo) => repo.removeShortCode(group, code));
        return reply.code(204).send();
      },
    },
    {
      method: 'GET', url: '/groups/:group/screening', summary: 'A group\'s time-based screening rules, in the order they are tried',
      schema: { params: groupParam },
      responses: { 200: { description: 'screening rules' }, ...ERRORS },
      handler: async (req) => deps.read((repo) => repo.listScreening(p<{ group: string }>(req).group)),
    },
    {
      method: 'POST', url: '/groups/:group/screening', summary: 'Add a screening rule: the call class of one member (extension) or all, by day type and time of day of the rating calendar',
      schema: {
        params: groupParam,
        body: {
          type: 'object', required: ['callClass'], additionalProperties: false,
          properties: {
            callClass: { type: 'string', enum: [...CALL_CLASSES] }, extension: nullableStr, dayType: nullableStr,
            timeFrom: { type: ['string', 'null'], pattern: '^([01]\\d|2[0-3]):[0-5]\\d$|^24:00$' }, timeTo: { type: ['string', 'null'], pattern: '^([01]\\d|2[0-3]):[0-5]\\d$|^24:00$' },
            priority: { type: 'integer' },
          },
        },
      },
      responses: { 201: { description: 'the rule' }, ...ERRORS },
      handler: async (req, reply) => {
        const b = req.body as { callClass: CallClass; extension?: string | null; dayType?: string | null; timeFrom?: string | null; timeTo?: string | null; priority?: number };
        const row = await changed((repo) => repo.addScreeningRule({ groupCode: p<{ group: string }>(req).group, ...b }));
        return reply.code(201).send(row);
      },
    },
    {
      method: 'DELETE', url: '/screening/:id', summary: 'Delete a screening rule',
      schema: { params: { type: 'object', required: ['id'], properties: { id: { type: 'integer' } } } },
      responses: { 204: { description: 'deleted' }, ...ERRORS },
      handler: async (req, reply) => {
        await changed((repo) => repo.removeScreeningRule(p<{ id: number }>(req).id));
        return reply.code(204).send();
      },
    },
  ];
}
