import { CallRejection, type AdmissionStep } from '../calls/types';

/** The caller is the P-Asserted-Identity when the trunk is trusted to assert it, else From. */
export function identifyCaller(): AdmissionStep {
  return (call) => {
    const { req } = call;
    let uri: string | undefined;
    if (call.ingressTrunk?.paiTrusted && req.has('P-Asserted-Identity')) {
      uri = req.getParsedHeader('p-asserted-identity')?.uri;
    }
    if (!uri) uri = req.getParsedHeader('from')?.uri;
    if (!uri) throw new CallRejection(400, 'NO_CALLER', 'the INVITE carries no usable caller identity');
    call.callerUri = uri;
  };
}
