import type { RatingService } from '../../lib/rating';
import { ratingScreeningClock, type VpnService } from '../../lib/vpn';
import { CallRejection, type AdmissionStep } from '../calls/types';

/**
 * VPN numbering: on-net, off-net or public; barring, CUGs and time-based screening (on the rating
 * calendar, at the INVITE time); the callee and the routes.
 */
export function resolveNumbering(vpn: VpnService, rating?: RatingService): AdmissionStep {
  return (call) => {
    const trunk = call.ingressTrunk!;
    const clock = rating ? ratingScreeningClock(rating.current().ruleSet) : undefined;
    const result = vpn.resolveCall({
      caller: call.callerUri!, dialled: call.req.uri, ingressTrunk: { name: trunk.name, servesMembers: trunk.servesMembers }, at: call.inviteAt, ...(clock ? { clock } : {}),
    });
    if (!result.ok) throw new CallRejection(result.refusal.status, result.refusal.code, result.refusal.reason);
    call.resolution = result.resolution;
  };
}
