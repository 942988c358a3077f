import { CallRejection, type AdmissionStep } from '../calls/types';
import type { TrunkCallCounter } from '../calls/trunk-calls';

/** The targets in fail-over order, leaving out trunks at their concurrent-call limit. */
export function selectRoute(trunkCalls: TrunkCallCounter): AdmissionStep {
  return (call) => {
    const routes = call.resolution!.routes;
    if (routes.length === 0) throw new CallRejection(480, 'NO_ROUTE', `no route to ${call.resolution!.callee.e164}`);
    const open = routes.filter((r) => trunkCalls.hasRoom(r.trunkId));
    if (open.length === 0) throw new CallRejection(503, 'TRUNKS_BUSY', 'every route is at its concurrent-call limit');
    call.routes = open;
  };
}
