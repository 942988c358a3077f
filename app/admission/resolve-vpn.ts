import type { VpnService } from '../../lib/vpn';
import { CallRejection, type AdmissionStep } from '../calls/types';

/** VPN numbering: on-net, off-net or public; barring; the callee and the routes. */
export function resolveNumbering(vpn: VpnService): AdmissionStep {
  return (call) => {
    const trunk = call.ingressTrunk!;
    const result = vpn.resolveCall({ caller: call.callerUri!, dialled: call.req.uri, ingressTrunk: { name: trunk.name, servesMembers: trunk.servesMembers } });
    if (!result.ok) throw new CallRejection(result.refusal.status, result.refusal.code, result.refusal.reason);
    call.resolution = result.resolution;
  };
}
