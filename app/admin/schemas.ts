/**
 * JSON schemas of the admin API's input (validated by fastify) and output (documented in the
 * OpenAPI file). Money is a decimal string ("12.50", at most 6 decimals), never a JSON number.
 */

export const MONEY_PATTERN = '^-?[0-9]{1,14}(\\.[0-9]{1,6})?$';
export const CODE_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:@-]{0,63}$';

type Schema = Record<string, unknown>;

const money = (description: string): Schema => ({ type: 'string', format: 'money', description, examples: ['12.50'] });
const nullableMoney = (description: string): Schema => ({ type: ['string', 'null'], format: 'money', description });

export const accountRefParams: Schema = {
  type: 'object', required: ['account'],
  properties: { account: { type: 'string', minLength: 1, maxLength: 64, description: 'account id or code' } },
};

export const callIdParams: Schema = {
  type: 'object', required: ['callId'],
  properties: { callId: { type: 'string', minLength: 1, maxLength: 171, description: "Tollgate's call id (as in CDRs and GET /calls)" } },
};

export const newAccountBody: Schema = {
  type: 'object', required: ['code', 'currency'], additionalProperties: false,
  properties: {
    code: { type: 'string', pattern: CODE_PATTERN, description: 'unique account code: letters, digits and . _ : @ -' },
    kind: { type: 'string', enum: ['prepaid', 'postpaid'], default: 'prepaid' },
    currency: { type: 'string', pattern: '^[A-Z]{3}$', description: 'ISO 4217 currency: three capital letters, e.g. EUR' },
    status: { type: 'string', enum: ['active', 'suspended', 'closed'] },
    creditLimit: money('postpaid: how far the balance may go below zero'),
    lowBalanceThreshold: nullableMoney('a warning is logged when the available money goes below this'),
    maxCalls: { type: ['integer', 'null'], minimum: 1, maximum: 1_000_000, description: 'concurrent-call limit; null for none' },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
  },
};

export const accountPatchBody: Schema = {
  type: 'object', additionalProperties: false, minProperties: 1,
  properties: {
    status: { type: 'string', enum: ['active', 'suspended', 'closed'] },
    creditLimit: money('postpaid credit limit'),
    lowBalanceThreshold: nullableMoney('low-balance threshold; null to clear'),
    maxCalls: { type: ['integer', 'null'], minimum: 1, maximum: 1_000_000 },
    expiresAt: { type: ['string', 'null'], format: 'date-time' },
  },
};

export const postingBody = (what: 'top-up' | 'adjustment'): Schema => ({
  type: 'object', required: ['amount', 'key'], additionalProperties: false,
  properties: {
    amount: money(what === 'top-up' ? 'money to add (positive)' : 'signed correction, e.g. "-1.50"'),
    key: { type: 'string', minLength: 1, maxLength: 191, description: `idempotency key: a replay with the same key returns the first ${what} and changes nothing` },
    currency: { type: 'string', pattern: '^[A-Z]{3}$', description: "three capital letters (ISO 4217); refused unless it is the account's currency" },
    note: { type: 'string', maxLength: 255 },
  },
});

export const ledgerQuery: Schema = {
  type: 'object', additionalProperties: false,
  properties: { limit: { type: 'integer', minimum: 1, maximum: 10_000, default: 50 } },
};

export const tariffDryRunBody: Schema = {
  type: 'object', required: ['service', 'destination', 'seconds'], additionalProperties: false,
  properties: {
    service: { type: 'string', minLength: 1, maxLength: 64, examples: ['voice.public'] },
    destination: { type: 'string', pattern: '^[0-9]{1,20}$', description: 'E.164 digits without +' },
    plan: { type: ['string', 'null'], maxLength: 64, description: "caller's plan" },
    group: { type: ['string', 'null'], maxLength: 64, description: "caller's VPN group" },
    start: { type: 'string', format: 'date-time', description: 'start of the call (default: now)' },
    seconds: { type: 'integer', minimum: 0, maximum: 31_536_000, description: 'billable seconds' },
    money: money('also answer how many seconds this amount buys'),
  },
};

export const vpnDryRunBody: Schema = {
  type: 'object', required: ['caller', 'dialled'], additionalProperties: false,
  properties: {
    caller: { type: 'string', minLength: 1, maxLength: 256, description: 'calling number or URI' },
    dialled: { type: 'string', minLength: 1, maxLength: 256, description: 'digits or URI as dialled' },
  },
};

const moneyOut = { type: 'string' };
export const accountOut: Schema = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, code: { type: 'string' }, kind: { type: 'string' }, currency: { type: 'string' }, status: { type: 'string' },
    balance: moneyOut, reserved: moneyOut, available: moneyOut, creditLimit: moneyOut, lowBalanceThreshold: { type: ['string', 'null'] },
    maxCalls: { type: ['integer', 'null'] }, liveCalls: { type: 'integer' }, expiresAt: { type: ['string', 'null'] },
    createdAt: { type: 'string' }, updatedAt: { type: 'string' },
  },
};
export const entryOut: Schema = {
  type: 'object',
  properties: {
    id: { type: 'integer' }, accountId: { type: 'integer' }, kind: { type: 'string', enum: ['topup', 'charge', 'refund', 'adjustment'] },
    amount: moneyOut, balanceAfter: moneyOut, key: { type: 'string' }, callId: { type: ['string', 'null'] }, note: { type: ['string', 'null'] },
    createdAt: { type: 'string' },
  },
};
export const liveCallOut: Schema = {
  type: 'object',
  properties: {
    callId: { type: 'string' }, state: { type: 'string', enum: ['admitting', 'dialling', 'answered', 'ending', 'ended'] },
    caller: { type: ['string', 'null'] }, callee: { type: ['string', 'null'] }, scope: { type: ['string', 'null'] },
    start: { type: 'string', description: 'INVITE time' }, answeredAt: { type: ['string', 'null'] },
    grantedSeconds: { type: 'integer', description: 'seconds granted from answer' },
    remainingSeconds: { type: ['number', 'null'], description: 'of the grant; null before answer' },
    sipCallId: { type: 'string', description: "the caller leg's SIP Call-ID" },
    accountId: { type: ['integer', 'null'], description: 'the account charged' },
    ingressTrunk: { type: ['string', 'null'] }, egressTrunk: { type: ['string', 'null'], description: 'the route being tried or answered' },
    currency: { type: ['string', 'null'] },
    reserved: { type: 'string', description: 'money set aside by the latest grant' },
    spent: { type: 'string', description: 'price of the seconds talked so far' },
  },
};

const filterText = (description: string): Schema => ({ type: 'string', minLength: 1, maxLength: 64, description });
/** The CDR filters of GET /cdrs and GET /cdrs/export. */
const cdrFilterProperties: Record<string, Schema> = {
  from: filterText('INVITE at or after (ISO 8601; UTC unless a zone is given)'),
  to: filterText('INVITE before (ISO 8601)'),
  account: filterText('account id or code'),
  group: filterText("caller's VPN group"),
  caller: { type: 'string', pattern: '^\\+?[0-9]{1,32}\\*?$', description: "caller's E.164 number or digits as received; a trailing * matches a prefix" },
  disposition: { type: 'string', enum: ['answered', 'busy', 'no_answer', 'cancelled', 'failed', 'refused'] },
};
/** The CDR filters alone: what `tollgate cdr list/export` checks its filter options against. */
export const cdrFilterQuery: Schema = { type: 'object', additionalProperties: false, properties: cdrFilterProperties };
export const cdrListQuery: Schema = {
  type: 'object', additionalProperties: false,
  properties: {
    ...cdrFilterProperties,
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    cursor: { type: 'string', maxLength: 1024, description: 'the "next" of the previous page' },
    format: { type: 'string', enum: ['json', 'csv'], default: 'json', description: 'csv: the page as CSV, the next cursor in the X-Next-Cursor header' },
  },
};
export const cdrExportQuery: Schema = {
  type: 'object', additionalProperties: false,
  properties: { ...cdrFilterProperties, format: { type: 'string', enum: ['csv', 'ndjson'], default: 'csv' } },
};
export const accountListQuery: Schema = {
  type: 'object', additionalProperties: false,
  properties: {
    status: { type: 'string', enum: ['active', 'suspended', 'closed'] },
    kind: { type: 'string', enum: ['prepaid', 'postpaid'] },
    limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
    offset: { type: 'integer', minimum: 0, default: 0 },
  },
};
const nullable = (type: string) => ({ type: [type, 'null'] });
export const cdrOut: Schema = {
  type: 'object',
  properties: {
    callId: { type: 'string' }, sipCallId: nullable('string'), instanceId: nullable('string'),
    inviteAt: { type: 'string' }, answerAt: nullable('string'), endAt: { type: 'string' },
    disposition: { type: 'string', enum: ['answered', 'busy', 'no_answer', 'cancelled', 'failed', 'refused'] },
    releaseCause: nullable('string'), sipStatus: nullable('integer'), sipReason: nullable('string'),
    callerDialled: nullable('string'), callerE164: nullable('string'), calleeDialled: nullable('string'), calleeE164: nullable('string'),
    presentedCaller: nullable('string'), scope: nullable('string'), service: nullable('string'), vpnGroup: nullable('string'),
    accountId: nullable('integer'), ingressTrunk: nullable('string'), egressTrunk: nullable('string'),
    billableSeconds: { type: 'integer' }, grantedSeconds: { type: 'integer' }, ruleId: nullable('integer'), tariffId: nullable('integer'),
    currency: nullable('string'), cost: { type: 'string', description: 'equals the ledger charge of the call' }, ledgerKey: nullable('string'),
    charging: { type: ['string', 'null'], description: 'a VPN member\'s call: business (the enterprise paid) or private (the member\'s personal account)' },
  },
};
export const errorOut: Schema = {
  type: 'object', required: ['error', 'message'],
  properties: { error: { type: 'string', description: 'stable code' }, message: { type: 'string' }, field: { type: 'string' } },
};
