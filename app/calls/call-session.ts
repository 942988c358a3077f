import type Srf from 'drachtio-srf';
import type { Logger } from '../../lib/common/logger';
import type { CdrDisposition, CdrRecord } from '../../lib/db/cdr-repository';
import { settleKey, type CreditControl, type Grant, type Settlement } from '../../lib/prepaid';
import type { CallQuote, RatingService } from '../../lib/rating';
import type { TrunkTarget } from '../../lib/vpn';
import { admit } from '../admission';
import type { TrunkCallCounter } from './trunk-calls';
import { CallRejection, type AdmissionContext, type AdmissionStep, type AdmittedCall } from './types';

export enum CallState {
  Admitting = 'admitting',
  Dialling = 'dialling',
  Answered = 'answered',
  Ending = 'ending',
  Ended = 'ended',
}

const TRANSITIONS: Readonly<Record<CallState, readonly CallState[]>> = {
  [CallState.Admitting]: [CallState.Dialling, CallState.Ending],
  [CallState.Dialling]: [CallState.Answered, CallState.Ending],
  [CallState.Answered]: [CallState.Ending],
  [CallState.Ending]: [CallState.Ended],
  [CallState.Ended]: [],
};

export type ReleaseCause =
  | 'caller_bye' | 'callee_bye' | 'credit_exhausted' | 'session_expired' | 'edge_teardown' | 'admin' | 'shutdown'
  | 'caller_cancel' | 'no_answer' | 'callee_refused' | 'refused' | 'error';

/** The Reason header sent with the BYEs of a cut-off. */
export const CREDIT_EXHAUSTED_REASON = 'SIP;cause=402;text="Credit exhausted"';

export interface CallSessionConfig {
  instanceId: string;
  /** How an on-net callee sees the caller's extension. */
  onnetCallerDisplay: 'user' | 'display' | 'both';
  noAnswerSeconds: number;
  reauthLeadSeconds: number;
  checkpointSeconds: number;
}

/** What a call tells the outside as it goes (metrics); every method is optional to implement. */
export interface CallObserver {
  offered?(callId: string): void;
  refused?(code: string, status: number): void;
  answered?(callId: string): void;
  grant?(kind: 'first' | 'answer' | 'extension', grant: Grant): void;
  lowBalance?(accountId: number, callId: string): void;
  ended?(cdr: CdrRecord, cause: ReleaseCause): void;
}

export interface CallSessionDeps {
  srf: Srf;
  steps: AdmissionStep[];
  credit: CreditControl;
  rating: RatingService;
  trunkCalls: TrunkCallCounter;
  writeCdr: (cdr: CdrRecord) => Promise<void>;
  config: CallSessionConfig;
  observer?: CallObserver;
}

interface SipFailure { status?: number; reason?: string }

/** What the admin API and shutdown see of a live call. */
export interface LiveCallView {
  callId: string;
  state: CallState;
  caller: string | null;
  callee: string | null;
  scope: string | null;
  inviteAt: Date;
  answerAt: Date | null;
  grantedSeconds: number;
  remainingSeconds: number | null;
}

/**
 * One call, from INVITE to CDR: admission, the outbound leg with route fail-over, the grant timer
 * with extensions and cut-off, and settlement exactly once however the call ends.
 */
export class CallSession {
  private state = CallState.Admitting;
  private readonly ctx: AdmissionContext;
  private uas: Srf.Dialog | undefined;
  private uac: Srf.Dialog | undefined;
  private answerAt: Date | null = null;
  private grant: Grant | undefined;
  private answerQuote: CallQuote | undefined;
  private egress: TrunkTarget | undefined;
  private releaseTrunk: (() => void) | undefined;
  private callerCancelled = false;
  /** Ended by us before answer (operator, shutdown): why, and the outbound INVITE to cancel. */
  private abandoned: ReleaseCause | undefined;
  private uacReq: Srf.SrfRequest | undefined;
  private unanswered: Promise<void> | undefined;
  private resolveUnanswered: (() => void) | undefined;
  private noAnswer = false;
  private finalStatus: { status: number; reason: string } | undefined;
  private timers: { extend?: NodeJS.Timeout; cutoff?: NodeJS.Timeout; checkpoint?: NodeJS.Timeout; noAnswer?: NodeJS.Timeout } = {};
  private ending: Promise<void> | undefined;
  private readonly endedHandlers: Array<() => void> = [];

  constructor(
    private readonly deps: CallSessionDeps,
    private readonly req: Srf.SrfRequest,
    private readonly res: Srf.SrfResponse,
    callId: string,
    logger: Logger,
  ) {
    this.ctx = {
      callId, sipCallId: req.get('Call-ID'), inviteAt: new Date(), req, logger: logger.child({ callId }),
      callerDialled: userPart(req.get('From')), calleeDialled: userPart(req.uri),
    };
    req.on('cancel', () => { this.callerCancelled = true; });
  }

  get callId(): string { return this.ctx.callId; }
  get currentState(): CallState { return this.state; }
  onEnded(fn: () => void): void { this.endedHandlers.push(fn); }

  view(now = Date.now()): LiveCallView {
    const granted = this.grant?.grantedSeconds ?? 0;
    const r = this.ctx.resolution;
    return {
      callId: this.ctx.callId, state: this.state, caller: r?.caller.e164 ?? null, callee: r?.callee.e164 ?? null, scope: r?.scope ?? null,
      inviteAt: this.ctx.inviteAt, answerAt: this.answerAt, grantedSeconds: granted,
      remainingSeconds: this.answerAt ? Math.max(0, granted - (now - this.answerAt.getTime()) / 1000) : null,
    };
  }

  private moveTo(next: CallState): void {
    if (!TRANSITIONS[this.state].includes(next)) {
      throw new Error(`call ${this.ctx.callId}: illegal transition ${this.state} → ${next}`);
    }
    this.state = next;
  }

  /** Admission, then the outbound leg. Never throws: every outcome ends in a CDR. */
  async run(): Promise<void> {
    this.deps.observer?.offered?.(this.ctx.callId);
    try {
      await admit(this.deps.steps, this.ctx);
      this.deps.observer?.grant?.('first', this.ctx.grant!);
      if (this.ctx.grant!.lowBalance) this.deps.observer?.lowBalance?.(this.ctx.grant!.accountId, this.ctx.callId);
    } catch (err) {
      await this.refuse(err);
      return;
    }
    if (this.callerCancelled || this.abandoned) {
      await this.failedBeforeAnswer(487, 'Request Terminated');
      return;
    }
    this.moveTo(CallState.Dialling);
    await this.dial(this.ctx as AdmittedCall);
  }

  private async refuse(err: unknown): Promise<void> {
    const rejection = err instanceof CallRejection
      ? err
      : new CallRejection(500, 'INTERNAL_ERROR', 'the call could not be admitted');
    this.deps.observer?.refused?.(rejection.code, rejection.status);
    if (!(err instanceof CallRejection)) this.ctx.logger.error('admission failed', { error: err instanceof Error ? err.stack : String(err) });
    else this.ctx.logger.info('call refused', { status: rejection.status, code: rejection.code, reason: rejection.reason });
    if (!this.res.finalResponseSent && !this.callerCancelled) {
      this.res.send(rejection.status, { headers: { Reason: `SIP;cause=${rejection.status};text="${rejection.reason.replace(/"/g, "'")}"`, 'X-Tollgate-Refusal': rejection.code } });
    }
    await this.finish('refused', 'refused', { status: rejection.status, reason: rejection.code });
  }

  // ------------------------------------------------------------------------------------ dialling

  private async dial(call: AdmittedCall): Promise<void> {
    for (const [i, route] of call.routes.entries()) {
      if (this.callerCancelled || this.abandoned) break;
      this.egress = route;
      this.releaseTrunk?.();
      this.releaseTrunk = this.deps.trunkCalls.take(route.trunkId);
      try {
        const { uas, uac } = await this.deps.srf.createB2BUA(this.req, this.res, this.targetUri(call, route), {
          headers: this.outboundHeaders(call),
          passFailure: false,
          proxyRequestHeaders: ['Supported', 'Allow', 'Content-Type'],
        }, {
          cbRequest: ((_err: unknown, uacReq: Srf.SrfRequest) => {
            this.uacReq = uacReq;
            if (this.abandoned) this.cancelOutbound(uacReq);
            else this.armNoAnswerTimer(uacReq);
          }) as unknown as (req: Srf.SrfRequest) => void,
        });
        clearTimeout(this.timers.noAnswer);
        await this.connected(call, uas, uac);
        return;
      } catch (err) {
        clearTimeout(this.timers.noAnswer);
        const failure = err as SipFailure;
        const status = failure.status ?? 500;
        const more = i < call.routes.length - 1;
        if (!this.callerCancelled && !this.abandoned && !this.noAnswer && more && (status >= 500 || status === 408)) {
          call.logger.info('route failed; trying the next', { trunk: route.name, status });
          continue;
        }
        await this.failedBeforeAnswer(status, failure.reason ?? '');
        return;
      }
    }
    await this.failedBeforeAnswer(487, 'Request Terminated');
  }

  private armNoAnswerTimer(uacReq: Srf.SrfRequest): void {
    clearTimeout(this.timers.noAnswer);
    this.timers.noAnswer = setTimeout(() => {
      this.noAnswer = true;
      this.cancelOutbound(uacReq);
    }, this.deps.config.noAnswerSeconds * 1000);
  }

  /** CANCEL to the outbound leg; its 487 ends the dialling path, so a failed send is only logged. */
  private cancelOutbound(uacReq: Srf.SrfRequest): void {
    uacReq.cancel((err: unknown) => {
      if (err) this.ctx.logger.debug('CANCEL not sent', { error: String(err) });
    });
  }

  private async failedBeforeAnswer(status: number, reason: string): Promise<void> {
    if (this.callerCancelled) {
      await this.finish('caller_cancel', 'cancelled', { status: 487, reason: 'Request Terminated' });
      return;
    }
    if (this.abandoned) {
      const sent = this.abandoned === 'shutdown' ? { status: 503, reason: 'Service Unavailable' } : { status: 480, reason: 'Temporarily Unavailable' };
      if (!this.res.finalResponseSent) this.res.send(sent.status, sent.reason, { headers: { Reason: `SIP;cause=${sent.status};text="call ended by ${this.abandoned}"` } });
      await this.finish(this.abandoned, 'failed', sent);
      return;
    }
    const sent = this.noAnswer ? { status: 480, reason: 'No Answer' } : { status, reason };
    if (!this.res.finalResponseSent) {
      if (sent.reason) this.res.send(sent.status, sent.reason, {});
      else this.res.send(sent.status);
    }
    const disposition: CdrDisposition = this.noAnswer ? 'no_answer'
      : [486, 600].includes(status) ? 'busy'
        : [408, 480].includes(status) ? 'no_answer'
          : 'failed';
    await this.finish(this.noAnswer ? 'no_answer' : 'callee_refused', disposition, sent);
  }

  private targetUri(call: AdmittedCall, route: TrunkTarget): string {
    const host = route.host.includes(':') ? `[${route.host}]` : route.host;
    return `sip:${call.resolution.callee.e164}@${host}:${route.port}${route.transport === 'tcp' ? ';transport=tcp' : ''}`;
  }

  /** On-net callees see the caller's extension; everyone else the caller's E.164 number. */
  private outboundHeaders(call: AdmittedCall): Record<string, string> {
    const r = call.resolution;
    const ext = r.presentedIsExtension ? r.presentedCaller : undefined;
    let from: string;
    if (!ext) from = `<sip:+${r.caller.e164}@localhost>`;
    else if (this.deps.config.onnetCallerDisplay === 'user') from = `<sip:${ext}@localhost>`;
    else if (this.deps.config.onnetCallerDisplay === 'display') from = `"${ext}" <sip:+${r.caller.e164}@localhost>`;
    else from = `"${ext}" <sip:${ext}@localhost>`;
    return { From: from, To: `<sip:${r.callee.e164}@localhost>` };
  }

  // ------------------------------------------------------------------------------------ answered

  private async connected(call: AdmittedCall, uas: Srf.Dialog, uac: Srf.Dialog): Promise<void> {
    this.uas = uas;
    this.uac = uac;
    this.answerAt = new Date();
    this.moveTo(CallState.Answered);
    this.wireLegs(uas, uac);
    if (this.abandoned) {
      // The 200 crossed our CANCEL: end the call at once, billed for what little ran.
      this.grant = call.grant;
      await this.end(this.abandoned);
      return;
    }
    call.logger.info('call answered', { trunk: this.egress?.name });
    this.deps.observer?.answered?.(call.callId);
    try {
      this.answerQuote = this.requote(call);
      const grant = await this.deps.credit.answer(call.callId, this.answerQuote);
      if (this.state !== CallState.Answered) return;
      this.deps.observer?.grant?.('answer', grant);
      this.scheduleGrant(grant);
    } catch (err) {
      call.logger.error('credit control failed at answer; ending the call', { error: String(err) });
      this.grant = call.grant;
      await this.end('error');
      return;
    }
    this.timers.checkpoint = setInterval(() => this.checkpoint(), this.deps.config.checkpointSeconds * 1000);
    this.timers.checkpoint.unref();
  }

  /** The tariff bound to the answer time; if the rules changed under the call, the INVITE's. */
  private requote(call: AdmittedCall): CallQuote {
    try {
      return this.deps.rating.quote(call.resolution.attributes, this.answerAt!);
    } catch (err) {
      call.logger.warn('re-rating at answer failed; keeping the tariff of the INVITE', { error: String(err) });
      return call.quote;
    }
  }

  private wireLegs(uas: Srf.Dialog, uac: Srf.Dialog): void {
    uas.on('destroy', (bye: Srf.SrfRequest) => void this.end(byeCause(bye, 'caller_bye')));
    uac.on('destroy', (bye: Srf.SrfRequest) => void this.end(byeCause(bye, 'callee_bye')));
    for (const [from, to] of [[uas, uac], [uac, uas]] as const) {
      from.on('modify', (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
        to.modify(req.body).then((sdp) => res.send(200, { body: sdp }), (err: SipFailure) => res.send(err.status ?? 488));
      });
      for (const method of ['info', 'update'] as const) {
        (from as unknown as NodeJS.EventEmitter).on(method, (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
          const headers: Record<string, string> = {};
          if (req.has('Content-Type')) headers['Content-Type'] = req.get('Content-Type');
          const request = to.request as unknown as (o: { method: string; headers: Record<string, string>; body?: string }) => Promise<Srf.SrfResponse>;
          request.call(to, { method: method.toUpperCase(), headers, body: req.body })
            .then((r) => res.send(r.status, { body: r.body, headers: r.has('Content-Type') ? { 'Content-Type': r.get('Content-Type') } : {} }),
              () => res.send(500));
        });
      }
    }
  }

  private scheduleGrant(grant: Grant): void {
    this.grant = grant;
    clearTimeout(this.timers.extend);
    clearTimeout(this.timers.cutoff);
    const endMs = this.answerAt!.getTime() + grant.grantedSeconds * 1000;
    this.timers.cutoff = setTimeout(() => void this.end('credit_exhausted'), Math.max(0, endMs - Date.now()));
    if (!grant.final) {
      const at = endMs - this.deps.config.reauthLeadSeconds * 1000;
      this.timers.extend = setTimeout(() => void this.extendGrant(), Math.max(0, at - Date.now()));
    }
    this.ctx.logger.debug('grant in force', { seconds: grant.grantedSeconds, final: grant.final });
  }

  private async extendGrant(): Promise<void> {
    try {
      const grant = await this.deps.credit.extend(this.ctx.callId);
      this.deps.observer?.grant?.('extension', grant);
      if (grant.lowBalance) this.deps.observer?.lowBalance?.(grant.accountId, this.ctx.callId);
      if (this.state === CallState.Answered) this.scheduleGrant(grant);
    } catch (err) {
      // The cut-off at the end of the current grant stands: a call never runs unpaid.
      this.ctx.logger.warn('grant extension failed; the call ends with its grant', { error: String(err) });
    }
  }

  private checkpoint(): void {
    if (this.state !== CallState.Answered || !this.answerAt) return;
    const seconds = Math.floor((Date.now() - this.answerAt.getTime()) / 1000);
    this.deps.credit.checkpoint(this.ctx.callId, seconds).catch((err: unknown) => {
      this.ctx.logger.warn('checkpoint not written', { error: String(err) });
    });
  }

  // ------------------------------------------------------------------------------------ ending

  /** Ends an answered call (BYE to the legs still up) and settles it; safe to call any number of times. */
  end(cause: ReleaseCause): Promise<void> {
    if (this.state === CallState.Admitting || this.state === CallState.Dialling) {
      // Not answered: cancel the outbound leg; the dialling path answers the caller and writes the
      // CDR, and this resolves when it has.
      this.abandoned ??= cause;
      if (this.uacReq) this.cancelOutbound(this.uacReq);
      this.unanswered ??= new Promise<void>((resolve) => { this.resolveUnanswered = resolve; });
      return this.unanswered;
    }
    if (this.state === CallState.Ending || this.state === CallState.Ended) return this.ending ?? this.unanswered ?? Promise.resolve();
    this.ending ??= this.endAnswered(cause);
    return this.ending;
  }

  private async endAnswered(cause: ReleaseCause): Promise<void> {
    const endAt = new Date();
    this.clearTimers();
    const headers = cause === 'credit_exhausted' ? { Reason: CREDIT_EXHAUSTED_REASON } : undefined;
    const byeTo = (leg: Srf.Dialog | undefined, skip: boolean): void => {
      if (!leg || skip) return;
      leg.destroy(headers ? { headers } : undefined, (err: unknown) => {
        if (err) this.ctx.logger.debug('BYE not sent', { error: String(err) });
      });
    };
    byeTo(this.uas, cause === 'caller_bye');
    byeTo(this.uac, cause === 'callee_bye');
    const billable = this.billableSeconds(endAt);
    await this.finish(cause, 'answered', { status: 200, reason: 'OK' }, endAt, billable);
  }

  /** Whole seconds from answer, rounded up, never beyond what was granted. */
  private billableSeconds(endAt: Date): number {
    if (!this.answerAt) return 0;
    const elapsed = Math.ceil((endAt.getTime() - this.answerAt.getTime()) / 1000);
    return Math.max(0, Math.min(elapsed, this.grant?.grantedSeconds ?? 0));
  }

  private clearTimers(): void {
    clearTimeout(this.timers.extend);
    clearTimeout(this.timers.cutoff);
    clearTimeout(this.timers.noAnswer);
    clearInterval(this.timers.checkpoint);
  }

  /** Settles (or releases) the money and writes the CDR: exactly once. */
  private async finish(cause: ReleaseCause, disposition: CdrDisposition, final: { status: number; reason: string }, endAt = new Date(), billable = 0): Promise<void> {
    if (this.state === CallState.Ending || this.state === CallState.Ended) return;
    this.moveTo(CallState.Ending);
    this.finalStatus = final;
    this.clearTimers();
    this.releaseTrunk?.();
    const { ctx } = this;
    let settlement: Settlement | undefined;
    try {
      if (ctx.grant && disposition === 'answered') {
        settlement = await this.deps.credit.settle(ctx.callId, billable, this.answerQuote ?? ctx.quote);
      } else if (ctx.grant) {
        await this.deps.credit.release(ctx.callId);
      }
    } catch (err) {
      ctx.logger.error('settlement failed', { error: err instanceof Error ? err.stack : String(err), billable });
    }
    const cdr = this.cdr(cause, disposition, endAt, billable, settlement);
    try {
      await this.deps.writeCdr(cdr);
    } catch (err) {
      ctx.logger.error('CDR not written', { error: String(err), cdr: { ...cdr, cost: cdr.cost.toString() } });
    }
    ctx.logger.info('call ended', {
      disposition, cause, status: final.status, caller: cdr.callerE164, callee: cdr.calleeE164, scope: cdr.scope,
      billableSeconds: billable, cost: cdr.cost.toString(), journalled: settlement?.journalled ?? false,
    });
    this.moveTo(CallState.Ended);
    this.deps.observer?.ended?.(cdr, cause);
    for (const fn of this.endedHandlers) fn();
    this.resolveUnanswered?.();
  }

  private cdr(cause: ReleaseCause, disposition: CdrDisposition, endAt: Date, billable: number, settlement: Settlement | undefined): CdrRecord {
    const { ctx } = this;
    const r = ctx.resolution;
    const quote = this.answerQuote ?? ctx.quote;
    return {
      callId: ctx.callId, instanceId: this.deps.config.instanceId, sipCallId: ctx.sipCallId, inviteAt: ctx.inviteAt,
      answerAt: this.answerAt, endAt, callerDialled: ctx.callerDialled ?? null, callerE164: r?.caller.e164 ?? null,
      calleeDialled: ctx.calleeDialled ?? null, calleeE164: r?.callee.e164 ?? null, presentedCaller: r?.presentedCaller ?? null,
      scope: r?.scope ?? null, service: r?.service ?? null, vpnGroup: r?.caller.groupCode ?? null,
      accountId: r?.caller.accountId ?? null, ingressTrunk: ctx.ingressTrunk?.name ?? null, egressTrunk: this.egress?.name ?? null,
      billableSeconds: settlement?.billableSeconds ?? billable, grantedSeconds: this.grant?.grantedSeconds ?? ctx.grant?.grantedSeconds ?? 0,
      disposition, releaseCause: cause, sipStatus: this.finalStatus?.status ?? null, sipReason: this.finalStatus?.reason ?? null,
      ruleId: quote?.ruleId ?? null, tariffId: quote?.tariffId ?? null, currency: quote?.currency ?? null,
      cost: settlement?.charged ?? 0n, ledgerKey: settlement ? settleKey(ctx.callId) : null,
    };
  }
}

/** A BYE the server sent on its own (session timer, no ACK, lost app) is not a hang-up by a party. */
function byeCause(bye: Srf.SrfRequest | undefined, party: ReleaseCause): ReleaseCause {
  const meta = (bye as unknown as { meta?: { source?: string } } | undefined)?.meta;
  if (meta?.source === 'application') {
    const reason = bye?.has('Reason') ? bye.get('Reason') : '';
    return /session/i.test(reason) ? 'session_expired' : 'edge_teardown';
  }
  return party;
}

function userPart(uriOrHeader: string | undefined): string | undefined {
  if (!uriOrHeader) return undefined;
  const m = /(?:sips?|tel):([^@;>]+)/i.exec(uriOrHeader);
  return m?.[1];
}
