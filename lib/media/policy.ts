import { mixCommand, unknownPlaceholders } from './prompts';
import type { CallFacts, MediaPlan, MediaRules, MediaSelection, RefusalPlan } from './types';

/** Refusal codes of credit control that mean "no money" and so may hear the no-credit prompt. */
export const NO_CREDIT_CODES: ReadonlySet<string> = new Set(['INSUFFICIENT_FUNDS', 'CREDIT_LIMIT']);

/**
 * Decides which calls get media and which announcements, from the rules alone. The call session
 * asks it through the media layer; nothing here knows of FreeSWITCH or SIP.
 */
export class MediaPolicy {
  constructor(private readonly rules: MediaRules) {
    const problems = [
      ...unknownPlaceholders(rules.noCredit?.prompt ?? [], []).map((n) => `noCredit.prompt names {${n}}`),
      ...unknownPlaceholders(rules.remainingTime?.prompt ?? [], ['minutes', 'seconds']).map((n) => `remainingTime.prompt names {${n}}`),
    ];
    // The warning is mixed into the running call: check it renders now, not at the first cut-off.
    for (const part of rules.warning?.prompt ?? []) {
      try { mixCommand('check', part, 1); } catch (err) { problems.push(`warning.prompt: ${(err as Error).message}`); }
    }
    if (problems.length > 0) throw new Error(`media rules: ${problems.join('; ')}`);
  }

  selects(call: CallFacts): boolean {
    return selected(this.rules.select, call);
  }

  /** A refusal with this code: the no-credit announcement, or null for a bare final response. */
  refusal(code: string, call: CallFacts): RefusalPlan | null {
    const nc = this.rules.noCredit;
    if (!nc?.enabled || !NO_CREDIT_CODES.has(code) || !this.selects(call)) return null;
    return { mode: nc.mode, prompt: nc.prompt };
  }

  /** An admitted call: its announcements and whether its media is anchored; null when it gets none. */
  planFor(call: CallFacts): MediaPlan | null {
    if (!this.selects(call)) return null;
    const rt = this.rules.remainingTime?.enabled ? this.rules.remainingTime : null;
    const w = this.rules.warning?.enabled ? this.rules.warning : null;
    if (!rt && !w) return null;
    return {
      anchor: w !== null || rt?.when === 'at_answer',
      remainingTime: rt ? { when: rt.when, prompt: rt.prompt } : null,
      warning: w ? { secondsBefore: w.secondsBefore, callee: w.callee, prompt: w.prompt } : null,
    };
  }
}

function selected(s: MediaSelection, call: CallFacts): boolean {
  const has = <T>(list: readonly T[] | null, v: T | null): boolean => list === null || (v !== null && list.includes(v));
  return has(s.accountKinds, call.accountKind) && has(s.accounts, call.accountId) && has(s.groups, call.group) && has(s.scopes, call.scope);
}

/**
 * When the warning plays, in ms from now: secondsBefore the end of a final grant, or at once when
 * less than that is left; null when the grant is not final (more time may come) or already over.
 */
export function warningDelayMs(grant: { grantedSeconds: number; final: boolean }, answerAtMs: number, secondsBefore: number, nowMs: number): number | null {
  if (!grant.final) return null;
  const endMs = answerAtMs + grant.grantedSeconds * 1000;
  if (endMs <= nowMs) return null;
  return Math.max(0, endMs - secondsBefore * 1000 - nowMs);
}

/** What the caller is told: the call time the money buys, from the account as it stands after this call's grant. */
export function remainingCallSeconds(
  grant: { grantedSeconds: number; final: boolean; reserved: bigint },
  account: { balance: bigint; creditLimit: bigint; reserved: bigint } | null,
  pricer: { maxSeconds(money: bigint): number },
): number {
  // A final grant is all the money buys (it was cut to it); otherwise price what is left plus what this call holds.
  if (grant.final || !account) return grant.grantedSeconds;
  const money = account.balance + account.creditLimit - account.reserved + grant.reserved;
  return Math.max(grant.grantedSeconds, pricer.maxSeconds(money));
}

/** Minutes as spoken: whole minutes, rounded down (a caller is never promised more than there is). */
export function spokenMinutes(seconds: number): number {
  return Math.floor(Math.max(0, seconds) / 60);
}
