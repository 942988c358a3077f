import { newTag } from '../message/identifiers';
import { responseFor } from '../message/responses';
import type { OrphanEnd } from '../dialog/orphans';
import { TimerSet } from '../transaction/timers';
import type { AppConnection } from './control-server';
import type { EdgeContext } from './edge-context';

/**
 * How calls end when their application goes (BYE after the grace, orphan records) and when the
 * edge stops (drain: new INVITEs refused, then at the deadline BYE, CANCEL and 503 from the edge).
 */
export class CallLifecycle {
  private graceTimers = new TimerSet();

  constructor(private readonly ctx: EdgeContext) {}

  /** An application's connection dropped: after the grace, its calls end with BYE. */
  onAppDisconnected(conn: AppConnection): void {
    const grace = this.ctx.opts.appDisconnectGraceMs;
    let orphaned = 0;
    for (const d of this.ctx.dialogs.all()) {
      if (d.owner !== conn || d.terminated) continue;
      this.ctx.orphans.record(d.id, d.callId);
      orphaned++;
    }
    this.ctx.orphans.prune();
    this.ctx.logger.info('application gone; its calls end after the grace', { conn: conn.id, graceMs: grace, orphaned });
    this.graceTimers.after(grace, () => this.endCallsOf(conn));
  }

  private endCallsOf(conn: AppConnection): void {
    const { dialogs, txl } = this.ctx;
    for (const d of dialogs.all()) {
      if (d.owner !== conn || d.terminated) continue;
      this.ctx.counters.disconnectByes++;
      dialogs.acknowledgePending(d);
      dialogs.byeFromEdge(d, 'SIP ;cause=503 ;text="application disconnected"', false, 'grace-bye');
    }
    for (const tx of txl.servers()) {
      if (tx.owner === conn && !tx.finalSent && tx.request.method !== 'ACK') {
        tx.respond(responseFor(tx.request, 503, 'Service Unavailable', tx.toTag ?? newTag()));
      }
    }
    for (const p of [...this.ctx.uacPending.values()]) {
      if (p.owner !== conn) continue;
      if (p.tx.state === 'calling' || p.tx.state === 'proceeding') txl.cancelInvite(p.tx, 'SIP;cause=503;text="application disconnected"');
    }
  }

  /** Calls still up or being set up: dialogs (ended ones until their BYE completes) and unanswered INVITEs. */
  private get drainPending(): boolean {
    if (this.ctx.dialogs.size > 0) return true;
    for (const tx of this.ctx.txl.clients()) if (tx.isInvite && (tx.state === 'calling' || tx.state === 'proceeding')) return true;
    for (const tx of this.ctx.txl.servers()) if (tx.isInvite && !tx.finalSent && tx.state !== 'terminated') return true;
    return false;
  }

  /** Edge-initiated requests still waiting for their final response. */
  private get ownRequestsPending(): boolean {
    for (const tx of this.ctx.txl.clients()) if (tx.state === 'calling' || tx.state === 'trying' || tx.state === 'proceeding') return true;
    return false;
  }

  /**
   * Shutdown drain: refuse new INVITEs, let the calls end; at the deadline end the rest from the
   * edge and give those requests at most 2 s. Bounded whatever the peers do.
   */
  async drain(timeoutMs: number): Promise<void> {
    this.ctx.state.draining = true;
    this.ctx.logger.info('edge draining', { dialogs: this.ctx.dialogs.size, timeoutMs });
    const settled = await this.waitFor(() => !this.drainPending, timeoutMs);
    if (settled || this.ctx.state.closed) return;
    this.ctx.logger.info('drain deadline reached; the edge ends the remaining calls', { dialogs: this.ctx.dialogs.size });
    this.endEverything('SIP;cause=503;text="edge shutting down"', 'edge-stop');
    await this.waitFor(() => !this.ownRequestsPending, 2000);
  }

  private waitFor(done: () => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    return new Promise((resolve) => {
      const check = (): void => {
        if (done() || this.ctx.state.closed) { resolve(true); return; }
        const left = deadline - Date.now();
        if (left <= 0) { resolve(false); return; }
        setTimeout(check, Math.min(50, left));
      };
      check();
    });
  }

  /** BYE every dialog, CANCEL every outgoing INVITE, 503 every incoming one. */
  private endEverything(reason: string, how: OrphanEnd): void {
    const { dialogs, txl } = this.ctx;
    for (const d of dialogs.all()) {
      if (d.terminated) continue;
      this.ctx.counters.drainByes++;
      dialogs.acknowledgePending(d);
      dialogs.byeFromEdge(d, reason, true, how);
    }
    for (const tx of txl.servers()) {
      if (tx.isInvite && !tx.finalSent && tx.state !== 'terminated') {
        const res = responseFor(tx.request, 503, 'Service Unavailable', tx.toTag ?? newTag());
        res.append('retry-after', '30');
        tx.respond(res);
      }
    }
    for (const tx of txl.clients()) {
      if (tx.isInvite && (tx.state === 'calling' || tx.state === 'proceeding') && !txl.internal.has(tx)) txl.cancelInvite(tx, reason);
    }
  }

  close(): void {
    for (const id of this.ctx.orphans.openIds()) this.ctx.orphans.ended(id, 'edge-stop');
    this.graceTimers.clear();
  }
}
