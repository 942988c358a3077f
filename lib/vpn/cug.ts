import type { CallRefusal, CugMembership } from './types';

/**
 * Closed user groups, ITU-T I.255.1 style. A call between two parties that share a CUG is always
 * allowed by the CUGs. Otherwise it leaves the caller's CUGs (an outside number, a member of
 * another CUG, a short code's outside number) and needs the caller's outgoing access, and it
 * enters the callee's CUGs from outside and needs the callee's incoming access. A party in no CUG
 * is unrestricted on its side. Access is per membership; any one membership that grants it counts.
 */
export function checkClosedUserGroups(caller: readonly CugMembership[], callee: readonly CugMembership[]): CallRefusal | undefined {
  if (caller.length === 0 && callee.length === 0) return undefined;
  for (const a of caller) for (const b of callee) if (a.cugId === b.cugId) return undefined;
  if (caller.length > 0 && !caller.some((m) => m.outgoingAccess)) {
    return { status: 403, code: 'CUG_OUTGOING_BARRED', reason: 'the caller\'s closed user group bars calls outside it' };
  }
  if (callee.length > 0 && !callee.some((m) => m.incomingAccess)) {
    return { status: 403, code: 'CUG_INCOMING_BARRED', reason: 'the callee\'s closed user group bars calls from outside it' };
  }
  return undefined;
}
