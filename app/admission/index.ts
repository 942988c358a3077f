import type { CreditControl } from '../../lib/prepaid';
import type { RatingService } from '../../lib/rating';
import type { VpnService } from '../../lib/vpn';
import type { AdmissionContext, AdmissionStep } from '../calls/types';
import type { TrunkCallCounter } from '../calls/trunk-calls';
import { authoriseCredit } from './authorise-credit';
import { applyGroupBudget, CapAccounts } from './group-budget';
import { identifyCaller } from './identify-caller';
import { rateCall } from './rate-call';
import { resolveNumbering } from './resolve-vpn';
import { selectRoute } from './select-route';
import { checkTrunkAccess } from './trunk-access';

export interface AdmissionDeps {
  vpn: VpnService;
  rating: RatingService;
  credit: CreditControl;
  trunkCalls: TrunkCallCounter;
  noCreditStatus: number;
  /** Members' cap accounts (shared with whoever opens them ahead); default: a fresh set. */
  capAccounts?: CapAccounts;
}

/** The ordered admission steps of DESIGN's "call, end to end", steps 1–6. Credit comes last: it sets money aside. */
export function admissionSteps(deps: AdmissionDeps): AdmissionStep[] {
  return [
    checkTrunkAccess(deps.vpn),
    identifyCaller(),
    resolveNumbering(deps.vpn, deps.rating),
    selectRoute(deps.trunkCalls),
    rateCall(deps.rating),
    applyGroupBudget(deps.capAccounts ?? new CapAccounts(deps.credit.accounts), deps.rating),
    authoriseCredit(deps.credit, deps.noCreditStatus),
  ];
}

/** Runs the steps in order; a step rejects by throwing CallRejection. */
export async function admit(steps: AdmissionStep[], call: AdmissionContext): Promise<void> {
  for (const step of steps) await step(call);
}
