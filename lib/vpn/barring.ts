import { classifyDestination, type DestinationClass } from './numbering';
import type { CallClass, CallRefusal, CallScope, NumberingPlan } from './types';
import type { MemberEntry } from './directory';

const CLASS_RANK: Readonly<Record<CallClass, number>> = { onnet_only: 0, local: 1, national: 2, international: 3 };
const DESTINATION_RANK: Readonly<Record<DestinationClass, number>> = { local: 1, national: 2, international: 3 };

function barred(code: string, reason: string): CallRefusal {
  return { status: 403, code, reason };
}

function firstMatchingPrefix(prefixes: readonly string[], e164: string): string | undefined {
  for (const prefix of prefixes) if (e164.startsWith(prefix)) return prefix;
  return undefined;
}

/**
 * The caller's side: its call class must cover the destination (on-net calls are always allowed;
 * off-net ones are local, national or international by the number) and the callee's number must
 * not begin with one of the caller's outgoing barring prefixes. `callClass` is the class in force
 * (time-based screening), by default the member's own.
 */
export function checkOutgoing(caller: MemberEntry, scope: CallScope, calleeE164: string, plan: NumberingPlan, callClass: CallClass = caller.member.callClass): CallRefusal | undefined {
  const { member, subscriber } = caller;
  if (scope !== 'onnet') {
    const destination = classifyDestination(calleeE164, subscriber.e164, plan);
    if (DESTINATION_RANK[destination] > CLASS_RANK[callClass]) {
      const screened = callClass === member.callClass ? '' : ' at this time';
      return barred('BARRED', `call class ${callClass} of extension ${member.extension}${screened} does not allow ${destination} calls`);
    }
  }
  const prefix = firstMatchingPrefix(member.outgoingBarring, calleeE164);
  if (prefix !== undefined) return barred('BARRED', `calls to ${prefix}… are barred for extension ${member.extension}`);
  return undefined;
}

/** The callee's side: the caller's number must not begin with one of its incoming barring prefixes. */
export function checkIncoming(callee: MemberEntry, callerE164: string): CallRefusal | undefined {
  const prefix = firstMatchingPrefix(callee.member.incomingBarring, callerE164);
  if (prefix !== undefined) return barred('BARRED_INCOMING', `the callee does not accept calls from ${prefix}…`);
  return undefined;
}
