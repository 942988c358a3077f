import type { VpnService } from '../../lib/vpn';
import { CallRejection, type AdmissionStep } from '../calls/types';

/** Only known trunks may send INVITEs: the source address must match a trunk's addresses. */
export function checkTrunkAccess(vpn: VpnService): AdmissionStep {
  return (call) => {
    const trunk = vpn.matchTrunk(call.req.source_address);
    if (!trunk) throw new CallRejection(403, 'UNKNOWN_TRUNK', `source ${call.req.source_address} is not a known trunk`);
    call.ingressTrunk = trunk;
  };
}
