import { formatMoney } from '../../lib/common/money';
import type { SpendNotifier } from '../../lib/notify';
import type { CallObserver } from '../calls/call-session';

/**
 * Turns what calls report into spend notifications: an account going below its low-balance
 * threshold (once per crossing: a grant above it or money coming in re-arms it), and every call
 * cut off because the money ran out. The notifier only queues; a call never waits for it.
 */
export class SpendNotifications {
  private readonly below = new Set<number>();

  constructor(private readonly notifier: SpendNotifier, private readonly clock: () => Date = () => new Date()) {}

  observer(): CallObserver {
    return {
      lowBalance: (accountId, callId) => {
        if (this.below.has(accountId)) return;
        this.below.add(accountId);
        this.notifier.notify({ kind: 'low_balance', subject: { type: 'account', id: accountId }, callId, at: this.clock().toISOString() });
      },
      grant: (_kind, grant) => {
        if (!grant.lowBalance) this.below.delete(grant.accountId);
      },
      ended: (cdr, cause) => {
        if (cause !== 'credit_exhausted' || cdr.accountId === null) return;
        const subject = { type: 'account' as const, id: cdr.accountId, ...(cdr.vpnGroup ? { group: cdr.vpnGroup } : {}) };
        this.notifier.notify({ kind: 'cut_off', subject, callId: cdr.callId, at: cdr.endAt.toISOString(), available: formatMoney(0n) });
      },
    };
  }

  /** Money came in: the next crossing notifies again. */
  rearm(accountId: number): void {
    this.below.delete(accountId);
  }
}
