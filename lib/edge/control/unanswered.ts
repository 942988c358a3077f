import type { Logger } from '../../common/logger';
import { newTag } from '../message/identifiers';
import { responseFor } from '../message/responses';
import type { ServerTransaction } from '../transaction/server-transaction';

/**
 * Requests handed to an application and not answered yet, with their give-up timers: after
 * `timeoutMs` (drachtio-server: 64 s) the edge forgets the request, answering it `status` first
 * when one is set.
 */
export class UnansweredRequests {
  private timers = new Map<ServerTransaction, NodeJS.Timeout>();

  constructor(
    private readonly policy: { timeoutMs: number; status: number | null },
    private readonly counters: { unansweredRequests: number },
    private readonly logger: Logger,
  ) {}

  handedOver(tx: ServerTransaction): void {
    const { timeoutMs, status } = this.policy;
    this.timers.set(tx, setTimeout(() => {
      this.timers.delete(tx);
      if (tx.finalSent || tx.state === 'terminated') return;
      this.counters.unansweredRequests++;
      this.logger.info('the application never answered the request; the edge gives it up',
        { method: tx.request.method, callId: tx.request.get('call-id'), timeoutMs, status });
      if (status !== null) tx.respond(responseFor(tx.request, status, status === 408 ? 'Request Timeout' : 'Server Internal Error', tx.toTag ?? newTag()));
      else tx.terminate();
    }, timeoutMs));
  }

  answered(tx: ServerTransaction): void {
    const t = this.timers.get(tx);
    if (t) { clearTimeout(t); this.timers.delete(tx); }
  }

  clear(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}
