/**
 * The media rules as plain data (app/config/media.ts validates them): which calls get media and
 * which announcements they hear. No I/O and no FreeSWITCH here.
 */
export type PromptPart =
  | { file: string }
  | { tone: string }
  | { say: string; language: string; type: string; method: 'pronounced' | 'iterated' | 'counted' }
  | { speak: string; engine: string; voice: string };

/** An announcement: its parts, played in order. */
export type Prompt = readonly PromptPart[];

/** The announcements, by name (the `prompt` label of the metrics). */
export type PromptName = 'no_credit' | 'remaining_time' | 'warning';

export type AccountKindForMedia = 'prepaid' | 'postpaid';
export type ScopeForMedia = 'onnet' | 'offnet' | 'public';

/** Every list given must contain the call's value; null means any value. */
export interface MediaSelection {
  accountKinds: readonly AccountKindForMedia[] | null;
  accounts: readonly number[] | null;
  groups: readonly string[] | null;
  scopes: readonly ScopeForMedia[] | null;
}

export interface MediaRules {
  select: MediaSelection;
  noCredit: { enabled: boolean; mode: 'early' | 'answer'; prompt: Prompt } | null;
  remainingTime: { enabled: boolean; when: 'before_connect' | 'at_answer'; prompt: Prompt } | null;
  warning: { enabled: boolean; secondsBefore: number; callee: boolean; prompt: Prompt } | null;
}

/** What the rules look at in a call. */
export interface CallFacts {
  accountId: number | null;
  accountKind: AccountKindForMedia | null;
  group: string | null;
  scope: ScopeForMedia | null;
}

/** What an admitted call gets. */
export interface MediaPlan {
  /**
   * Both legs on media-server endpoints bridged by it: needed to reach the caller once the call
   * is answered (remaining time at answer, the warning). Otherwise media stays end to end.
   */
  anchor: boolean;
  remainingTime: { when: 'before_connect' | 'at_answer'; prompt: Prompt } | null;
  warning: { secondsBefore: number; callee: boolean; prompt: Prompt } | null;
}

/** What a no-credit refusal gets instead of a bare final response. */
export interface RefusalPlan { mode: 'early' | 'answer'; prompt: Prompt }

/** A FreeSWITCH dialplan application with its argument, as executed on an endpoint. */
export interface FsApplication { app: string; arg: string }
