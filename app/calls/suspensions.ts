import type { Logger } from '../../lib/common/logger';
import type { LiveCallView, ReleaseCause } from './call-session';

/** What a suspension or closing does to the live calls it concerns. */
export type SuspendPolicy = 'now' | 'end_of_grant';

export interface SuspensionDeps {
  liveCalls(): LiveCallView[];
  endNow(callId: string, cause: ReleaseCause): Promise<boolean>;
  endAtGrant(callId: string, cause: ReleaseCause): boolean;
  /** Status of each account asked for ('active', 'suspended', 'closed'); an account that is gone is left out. */
  accountStatuses(ids: number[]): Promise<Map<number, string>>;
  /** Status of a VPN group in the directory in force; undefined when it is not there. */
  groupStatus(code: string): string | undefined;
}

/** The live calls a sweep must end: those whose paying account or caller's group is no longer active. */
export function callsToEnd(calls: readonly LiveCallView[], accounts: ReadonlyMap<number, string>, groupStatus: (code: string) => string | undefined): Array<{ callId: string; why: string }> {
  const out: Array<{ callId: string; why: string }> = [];
  for (const c of calls) {
    const account = c.accountId === null ? undefined : accounts.get(c.accountId);
    const group = c.vpnGroup ? groupStatus(c.vpnGroup) : undefined;
    if (account !== undefined && account !== 'active') out.push({ callId: c.callId, why: `account ${c.accountId} is ${account}` });
    else if (group !== undefined && group !== 'active') out.push({ callId: c.callId, why: `group ${c.vpnGroup} is ${group}` });
  }
  return out;
}

/**
 * Suspending or closing an account or a VPN group ends its live calls: every interval the live
 * calls' paying accounts are read (one read per distinct account) and their groups looked up in
 * the directory in force, and each call concerned is ended at once or at the end of its current
 * grant, by the policy; either way it is settled exactly like any other call. A call is acted on once.
 */
export class SuspensionWatch {
  private readonly handled = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(private readonly deps: SuspensionDeps, private readonly policy: SuspendPolicy, private readonly intervalMs: number, private readonly logger: Logger) {}

  start(): void {
    this.timer = setInterval(() => { void this.sweep().catch((err: unknown) => this.logger.warn('suspension check failed; retried next interval', { error: String(err) })); }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One check; concurrent calls share the one in flight. Resolves to the number of calls acted on. */
  sweep(): Promise<number> {
    this.running ??= this.sweepNow().finally(() => { this.running = undefined; });
    return this.running;
  }

  private async sweepNow(): Promise<number> {
    const calls = this.deps.liveCalls();
    const live = new Set(calls.map((c) => c.callId));
    for (const id of this.handled) if (!live.has(id)) this.handled.delete(id);
    const pending = calls.filter((c) => !this.handled.has(c.callId));
    if (pending.length === 0) return 0;
    const ids = [...new Set(pending.map((c) => c.accountId).filter((id): id is number => id !== null))];
    const statuses = await this.deps.accountStatuses(ids);
    const ending = callsToEnd(pending, statuses, (code) => this.deps.groupStatus(code));
    for (const { callId, why } of ending) {
      this.handled.add(callId);
      this.logger.info(this.policy === 'now' ? 'ending live call: suspended' : 'live call ends with its grant: suspended', { callId, why });
      if (this.policy === 'now') void this.deps.endNow(callId, 'suspended');
      else this.deps.endAtGrant(callId, 'suspended');
    }
    return ending.length;
  }
}
