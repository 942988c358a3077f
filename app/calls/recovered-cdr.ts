import type { CdrRecord } from '../../lib/db/cdr-repository';
import type { RecoveredCall } from '../../lib/prepaid';

/**
 * The CDR of a call whose instance was lost: what the reservation knows (account, answer time, the
 * seconds and money it was settled at: to its real end as the SIP server saw it, or its last
 * checkpoint). Numbers and trunks died with the instance.
 */
export function recoveredCdr(call: RecoveredCall, recoveredBy: string, now = new Date()): CdrRecord {
  const r = call.reservation;
  return {
    callId: r.callId, instanceId: recoveredBy, sipCallId: null, inviteAt: r.createdAt, answerAt: r.answeredAt,
    endAt: call.endAt ?? r.checkpointAt ?? now, callerDialled: null, callerE164: null, calleeDialled: null, calleeE164: null,
    presentedCaller: null, scope: null, service: null, vpnGroup: null, accountId: r.accountId, ingressTrunk: null,
    egressTrunk: null, billableSeconds: call.billableSeconds, grantedSeconds: r.grantedSeconds,
    disposition: call.answered ? 'answered' : 'failed', releaseCause: 'instance_lost', sipStatus: null,
    sipReason: `recovered from instance ${r.ownerInstance}${!call.answered ? '' : call.endAt ? ' to its real end' : ' at its last checkpoint'}`, ruleId: null, tariffId: null, currency: null,
    cost: call.charged, ledgerKey: call.ledgerKey,
  };
}
