import { CallRejection, type AdmissionStep } from '../calls/types';

/**
 * The caller is the P-Asserted-Identity when the trunk serves members and is trusted to assert it,
 * else From. Whether that identity may be a subscriber at all is the trunk's `servesMembers`,
 * applied by the VPN resolution: from a carrier trunk it never is.
 */
export function identifyCaller(): AdmissionStep {
  return (call) => {
    const { req } = call;
    let uri: string | undefined;
    const trunk = call.ingressTrunk;
    if (trunk?.servesMembers && trunk.paiTrusted && req.has('P-Asserted-Identity')) {
      uri = req.getParsedHeader('p-asserted-identity')?.uri;
    }
    if (!uri) uri = req.getParsedHeader('from')?.uri;
    if (!uri) throw new CallRejection(400, 'NO_CALLER', 'the INVITE carries no usable caller identity');
    call.callerUri = uri;
  };
}
