import type { CdrRecord } from '../../lib/db/cdr-repository';
import type { RecoveredCall } from '../../lib/prepaid';
import type { StoredCallRecord } from './types';

/**
 * The CDR of a call whose instance was lost: what the reservation knows (account, answer time, the
 * seconds and money it was settled at: to its real end as the SIP server saw it, or its last
 * checkpoint), and the numbers, trunks and tariff the lost instance stored with it at answer.
 */
export function recoveredCdr(call: RecoveredCall, recoveredBy: string, now = new Date()): CdrRecord {
  const r = call.reservation;
  const stored = storedCdrFields(r.recovery?.rating);
  return {
    callId: r.callId, instanceId: recoveredBy, sipCallId: stored?.sipCallId ?? callIdOfDialog(r.recovery?.dialogs[0]),
    inviteAt: stored?.inviteAt ? new Date(stored.inviteAt) : r.createdAt, answerAt: r.answeredAt,
    endAt: call.endAt ?? r.checkpointAt ?? now, callerDialled: stored?.callerDialled ?? null, callerE164: stored?.callerE164 ?? null,
    calleeDialled: stored?.calleeDialled ?? null, calleeE164: stored?.calleeE164 ?? null, presentedCaller: stored?.presentedCaller ?? null,
    scope: stored?.scope ?? null, service: stored?.service ?? null, vpnGroup: stored?.vpnGroup ?? null, accountId: r.accountId,
    ingressTrunk: stored?.ingressTrunk ?? null, egressTrunk: stored?.egressTrunk ?? null, billableSeconds: call.billableSeconds,
    grantedSeconds: r.grantedSeconds, disposition: call.answered ? 'answered' : 'failed', releaseCause: 'instance_lost', sipStatus: null,
    sipReason: `recovered from instance ${r.ownerInstance}${!call.answered ? '' : call.endAt ? ' to its real end' : ' at its last checkpoint'}`,
    ruleId: stored?.ruleId ?? null, tariffId: stored?.tariffId ?? null, currency: stored?.currency ?? null,
    cost: call.charged, ledgerKey: call.ledgerKey,
  };
}

/** The CDR fields stored at answer; none when absent or unreadable (the CDR is still written). */
function storedCdrFields(rating: string | undefined): StoredCallRecord['cdr'] | undefined {
  if (!rating) return undefined;
  try {
    const parsed = JSON.parse(rating) as Partial<StoredCallRecord>;
    return parsed.cdr && typeof parsed.cdr === 'object' ? parsed.cdr : undefined;
  } catch {
    return undefined;
  }
}

/** `<Call-ID>;from-tag=<tag>` → the Call-ID: the caller leg's dialog comes first. */
function callIdOfDialog(dialogId: string | undefined): string | null {
  if (!dialogId) return null;
  const at = dialogId.lastIndexOf(';from-tag=');
  return at > 0 ? dialogId.slice(0, at) : null;
}
