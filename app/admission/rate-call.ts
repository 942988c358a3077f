import { RatingError, type RatingService } from '../../lib/rating';
import { CallRejection, type AdmissionStep } from '../calls/types';

/** The call's service attributes select a charging rule and so a tariff, bound to the INVITE time. */
export function rateCall(rating: RatingService): AdmissionStep {
  return (call) => {
    try {
      call.quote = rating.quote(call.resolution!.attributes, call.inviteAt);
    } catch (err) {
      if (err instanceof RatingError && err.code === 'NO_RULE') {
        throw new CallRejection(403, 'NO_TARIFF', `no tariff for ${call.resolution!.service} to ${call.resolution!.callee.e164}`);
      }
      throw err;
    }
  };
}
