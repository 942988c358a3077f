import type { Grant } from '../prepaid';
import type { CallResolution } from '../vpn';
import type { CallFacts } from './types';

/** The facts the media rules look at, from what admission learned (and the refusal code, for a refused call). */
export function callFacts(resolution: CallResolution | undefined, grant: Grant | undefined, refusalCode?: string): CallFacts {
  const kind = grant ? (grant.mode === 'postpaid' ? 'postpaid' : 'prepaid')
    : refusalCode === 'INSUFFICIENT_FUNDS' ? 'prepaid' : refusalCode === 'CREDIT_LIMIT' ? 'postpaid' : null;
  return {
    accountId: resolution?.caller.accountId ?? null, accountKind: kind,
    group: resolution?.caller.groupCode ?? null, scope: resolution?.scope ?? null,
  };
}
