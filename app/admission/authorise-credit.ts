import type { CreditControl, RefusalCode } from '../../lib/prepaid';
import { CallRejection, type AdmissionStep } from '../calls/types';

/** The SIP status for each refusal of credit control. */
export function refusalStatus(code: RefusalCode, noCreditStatus: number): number {
  switch (code) {
    case 'INSUFFICIENT_FUNDS':
    case 'CREDIT_LIMIT':
      return noCreditStatus;
    case 'DB_UNAVAILABLE':
      return 503;
    case 'CALL_LIMIT':
      return 486;
    default:
      return 403;
  }
}

/** The caller's account pays: money for a first grant is set aside before the call is placed. */
export function authoriseCredit(credit: CreditControl, noCreditStatus: number): AdmissionStep {
  return async (call) => {
    const accountId = call.resolution!.caller.accountId;
    if (accountId === undefined) throw new CallRejection(403, 'NO_ACCOUNT', 'the caller has no account');
    const outcome = await credit.authorise({
      callId: call.callId, accountId, pricer: call.quote!,
      ...(call.extraHolds ? { extraHolds: call.extraHolds } : {}), ...(call.maxSeconds !== undefined ? { maxSeconds: call.maxSeconds } : {}),
    });
    if (!outcome.granted) {
      throw new CallRejection(refusalStatus(outcome.refusal.code, noCreditStatus), outcome.refusal.code, outcome.refusal.reason);
    }
    call.grant = outcome.grant;
  };
}
