import type { Logger } from '../../common/logger';
import type { ClientTransaction } from './client-transaction';

export const DEFAULT_TIMER_C_MS = 180_000;

export interface InviteGuardHooks {
  /** Timer C fired: send CANCEL for the INVITE (which then arms the give-up through `cancelled`). */
  cancel(tx: ClientTransaction, reason: string): void;
  /** No final response within the give-up after CANCEL: the user gets 408 and the transaction ends. */
  giveUp(tx: ClientTransaction): void;
}

interface Guard { timerC: NodeJS.Timeout | null; giveUp: NodeJS.Timeout | null }

/**
 * The timers that bound an outgoing INVITE beyond its transaction: Timer C (RFC 3261 §16.6
 * item 11, §16.7 step 2) from the send, reset by each 101–199, after which the INVITE is
 * cancelled; and after any CANCEL a give-up of 64*T1 (§9.1) to reach a final response.
 */
export class InviteGuards {
  private guards = new Map<ClientTransaction, Guard>();

  constructor(
    private readonly timerCMs: number,
    private readonly giveUpMs: number,
    private readonly hooks: InviteGuardHooks,
    private readonly counters: { timerCCancels: number; cancelGiveUps: number },
    private readonly logger: Logger,
  ) {}

  private guardOf(tx: ClientTransaction): Guard {
    let g = this.guards.get(tx);
    if (!g) { g = { timerC: null, giveUp: null }; this.guards.set(tx, g); }
    return g;
  }

  /** Armed at send and re-armed by each 101–199. */
  armTimerC(tx: ClientTransaction): void {
    const g = this.guardOf(tx);
    if (g.giveUp) return;   // already cancelled: the give-up bounds it now
    if (g.timerC) clearTimeout(g.timerC);
    g.timerC = setTimeout(() => {
      g.timerC = null;
      if (g.giveUp || (tx.state !== 'calling' && tx.state !== 'proceeding')) return;
      this.counters.timerCCancels++;
      this.logger.info('Timer C fired: no final response, cancelling the INVITE', { txId: tx.id, callId: tx.request.get('call-id') });
      this.hooks.cancel(tx, 'SIP;cause=408;text="no final response (Timer C)"');
    }, this.timerCMs);
  }

  /** After CANCEL: a final response within 64*T1, else the edge ends the transaction itself. */
  cancelled(tx: ClientTransaction): void {
    const g = this.guardOf(tx);
    if (g.timerC) { clearTimeout(g.timerC); g.timerC = null; }
    if (g.giveUp) return;
    g.giveUp = setTimeout(() => {
      g.giveUp = null;
      if (tx.state !== 'calling' && tx.state !== 'proceeding') return;
      this.counters.cancelGiveUps++;
      this.logger.info('no final response after CANCEL, giving up the INVITE', { txId: tx.id, callId: tx.request.get('call-id') });
      this.hooks.giveUp(tx);
    }, this.giveUpMs);
  }

  /** A final response came or the transaction ended. */
  clear(tx: ClientTransaction): void {
    const g = this.guards.get(tx);
    if (!g) return;
    if (g.timerC) clearTimeout(g.timerC);
    if (g.giveUp) clearTimeout(g.giveUp);
    this.guards.delete(tx);
  }

  clearAll(): void { for (const tx of [...this.guards.keys()]) this.clear(tx); }
}
