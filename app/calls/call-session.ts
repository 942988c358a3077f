import type Srf from 'drachtio-srf';
import { AppError } from '../../lib/common/errors';
import type { Logger } from '../../lib/common/logger';
import { moneyText } from '../../lib/common/money';
import { callRecordText, type CdrDisposition, type CdrRecord } from '../../lib/db/cdr-repository';
import { settleKey, type CreditControl, type Grant, type Settlement } from '../../lib/prepaid';
import { callFacts } from '../../lib/media/facts';
import type { CallQuote, RatingService } from '../../lib/rating';
import type { TrunkTarget } from '../../lib/vpn';
import { admit } from '../admission';
import type { AnchoredMedia, CallMedia } from '../media/call-media';
import { compactDialog, own } from './dialog-memory';
import type { TrunkCallCounter } from './trunk-calls';
import { CallRejection, type AdmissionContext, type AdmissionStep, type AdmittedCall, type StoredCallRecord } from './types';

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
  | 'caller_bye' | 'callee_bye' | 'credit_exhausted' | 'database_unavailable' | 'session_expired' | 'edge_teardown'
  | 'sip_server_lost' | 'admin' | 'shutdown' | 'caller_cancel' | 'no_answer' | 'callee_timeout' | 'callee_refused'
  | 'refused' | 'error' | 'suspended';

/** The Reason header sent with the BYEs of a cut-off. */
export const CREDIT_EXHAUSTED_REASON = 'SIP;cause=402;text="Credit exhausted"';

/** Reasons on the BYEs (or final responses) of calls that we end, by why we end them. */
const REASONS: Partial<Record<ReleaseCause, string>> = {
  credit_exhausted: CREDIT_EXHAUSTED_REASON,
  database_unavailable: 'SIP;cause=503;text="Database unavailable"',
  shutdown: 'SIP;cause=503;text="Shutting down"',
  admin: 'SIP;cause=480;text="Ended by the operator"',
  error: 'SIP;cause=500;text="Internal error"',
  no_answer: 'SIP;cause=480;text="No answer"',
  sip_server_lost: 'SIP;cause=503;text="SIP server connection lost"',
  session_expired: 'SIP;cause=408;text="Session timer expired"',
  edge_teardown: 'SIP;cause=503;text="Other leg ended by the SIP server"',
  suspended: 'SIP;cause=403;text="Account or group suspended or closed"',
};

export interface SessionTimerConfig { enabled: boolean; interval: number; minSE: number; refresher: 'uac' | 'uas' }

export interface CallSessionConfig {
  instanceId: string;
  /** How an on-net callee sees the caller's extension. */
  onnetCallerDisplay: 'user' | 'display' | 'both';
  noAnswerSeconds: number;
  reauthLeadSeconds: number;
  checkpointSeconds: number;
  /** RFC 4028 timers asked for on both legs by the application itself, whatever the SIP server adds. */
  sessionTimer?: SessionTimerConfig;
}

/** What a call tells the outside as it goes (metrics); every method is optional to implement. */
export interface CallObserver {
  offered?(callId: string): void;
  refused?(code: string, status: number): void;
  /** The outbound INVITE of the first route went out, delayMs after the INVITE reached the application. */
  dialled?(callId: string, delayMs: number): void;
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
  /** Announcements through a media server (app/media); absent, no call has media. */
  media?: CallMedia;
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
  sipCallId: string;
  accountId: number | null;
  ingressTrunk: string | null;
  egressTrunk: string | null;
  currency: string | null;
  /** Money set aside for the call by its latest grant. */
  reserved: bigint;
  /** The price of the seconds talked so far (what it would cost if it ended now). */
  spent: bigint;
  /** The caller's VPN group, when a member. */
  vpnGroup?: string | null;
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
  /** Ended by us while admission was still running (operator, shutdown, lost SIP server). */
  private abandoned: ReleaseCause | undefined;
  private uacReq: Srf.SrfRequest | undefined;
  private unanswered: Promise<void> | undefined;
  private resolveUnanswered: (() => void) | undefined;
  private finalStatus: { status: number; reason: string } | undefined;
  /** Set when an extension failed: the cut-off at the end of the grant then says why. */
  private extensionFailure: ReleaseCause | undefined;
  /** An extension asked for and not yet answered (see cutoffCause). */
  private extensionPending = false;
  /** When the connection to the SIP server dropped under this answered call; it is then never extended. */
  private lost: Date | undefined;
  private timers: { extend?: NodeJS.Timeout; cutoff?: NodeJS.Timeout; checkpoint?: NodeJS.Timeout; noAnswer?: NodeJS.Timeout } = {};
  private ending: Promise<void> | undefined;
  private finishing: Promise<void> | undefined;
  private readonly endedHandlers: Array<() => void> = [];
  /** When the INVITE reached the application (performance.now()), for the dial delay. */
  private readonly arrivedAt = performance.now();
  /** Both legs on media-server endpoints (a warning, or remaining time at answer); null: media end to end. */
  private anchored: AnchoredMedia | null = null;

  /**
   * The INVITE and its response, until the call is answered. An answered call keeps only its
   * dialogs, and those compacted (app/calls/dialog-memory.ts): the set-up is most of what a live
   * call would otherwise hold in memory.
   */
  private setup: { req: Srf.SrfRequest; res: Srf.SrfResponse } | undefined;

  constructor(
    private readonly deps: CallSessionDeps,
    req: Srf.SrfRequest,
    res: Srf.SrfResponse,
    callId: string,
    logger: Logger,
  ) {
    this.setup = { req, res };
    const sipCallId = own(req.get('Call-ID'));
    const ctx = {
      callId, sipCallId, inviteAt: new Date(), logger: logger.child({ callId, sipCallId }),
      callerDialled: own(userPart(req.get('From'))), calleeDialled: own(userPart(req.uri)),
    };
    // The admission steps read the INVITE through the context, for as long as it is kept.
    this.ctx = Object.defineProperty(ctx, 'req', { get: () => this.req, enumerable: true }) as typeof ctx & { readonly req: Srf.SrfRequest };
    req.on('cancel', () => {
      this.callerCancelled = true;
      // drachtio-srf has answered 487 and cancels the outbound leg; the call ends now, whatever
      // the callee does with that CANCEL.
      if (this.state === CallState.Dialling) void this.finish('caller_cancel', 'cancelled', { status: 487, reason: 'Request Terminated' });
    });
  }

  private get req(): Srf.SrfRequest {
    if (!this.setup) throw new Error(`call ${this.ctx.callId}: the INVITE is not kept once the call is answered`);
    return this.setup.req;
  }

  private get res(): Srf.SrfResponse {
    if (!this.setup) throw new Error(`call ${this.ctx.callId}: the INVITE's response is not kept once the call is answered`);
    return this.setup.res;
  }

  get callId(): string { return this.ctx.callId; }
  get currentState(): CallState { return this.state; }
  /** The SIP server's ids of both legs' dialogs, once answered. */
  get dialogIds(): string[] {
    return [this.uas, this.uac].map((d) => (d as unknown as { id?: string } | undefined)?.id).filter((id): id is string => typeof id === 'string');
  }
  /** When the SIP server connection was lost under this answered call, if it was. */
  get lostAt(): Date | undefined { return this.lost; }
  onEnded(fn: () => void): void { this.endedHandlers.push(fn); }

  view(now = Date.now()): LiveCallView {
    const granted = this.grant?.grantedSeconds ?? 0;
    const r = this.ctx.resolution;
    const quote = this.answerQuote ?? this.ctx.quote;
    return {
      callId: this.ctx.callId, state: this.state, caller: r?.caller.e164 ?? null, callee: r?.callee.e164 ?? null, scope: r?.scope ?? null,
      inviteAt: this.ctx.inviteAt, answerAt: this.answerAt, grantedSeconds: granted,
      remainingSeconds: this.answerAt ? Math.max(0, granted - (now - this.answerAt.getTime()) / 1000) : null,
      sipCallId: this.ctx.sipCallId, accountId: r?.caller.accountId ?? null, ingressTrunk: this.ctx.ingressTrunk?.name ?? null,
      egressTrunk: this.egress?.name ?? null, currency: quote?.currency ?? null, reserved: (this.grant ?? this.ctx.grant)?.reserved ?? 0n,
      spent: quote && this.answerAt && this.state === CallState.Answered ? quote.price(this.billableSeconds(new Date(now))) : 0n,
      vpnGroup: r?.caller.groupCode ?? null,
    };
  }

  /**
   * No more extensions: the call ends, with `cause`, when its current grant does (settled as any
   * cut-off). A call not answered yet has no grant to run out: it is ended now.
   */
  endAtGrant(cause: ReleaseCause): Promise<void> | undefined {
    if (this.state !== CallState.Answered) return this.end(cause);
    this.extensionFailure = cause;
    clearTimeout(this.timers.extend);
    this.ctx.logger.info('call ends with its current grant', { cause, grantedSeconds: this.grant?.grantedSeconds });
    return undefined;
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
      this.checkSessionInterval();
      await admit(this.deps.steps, this.ctx);
      this.deps.observer?.grant?.('first', this.ctx.grant!);
      if (this.ctx.grant!.lowBalance) this.deps.observer?.lowBalance?.(this.ctx.grant!.accountId, this.ctx.callId);
    } catch (err) {
      await this.refuse(err);
      return;
    }
    if (this.deps.media) this.anchored = await this.deps.media.prepare({ ...this.mediaCall(), grant: this.ctx.grant!, pricer: this.ctx.quote! });
    if (this.callerCancelled) {
      await this.finish('caller_cancel', 'cancelled', { status: 487, reason: 'Request Terminated' });
      return;
    }
    this.moveTo(CallState.Dialling);
    if (this.abandoned) {
      await this.giveUpDialling(this.abandoned);
      return;
    }
    await this.dial(this.ctx as AdmittedCall);
  }

  /** A refusal with its CDR, without admission (for instance while shutting down). */
  async refuseNow(rejection: CallRejection, headers: Record<string, string> = {}): Promise<void> {
    this.deps.observer?.offered?.(this.ctx.callId);
    await this.refuse(rejection, headers);
  }

  private async refuse(err: unknown, extraHeaders: Record<string, string> = {}): Promise<void> {
    const rejection = err instanceof CallRejection
      ? err
      : new CallRejection(500, 'INTERNAL_ERROR', 'the call could not be admitted');
    this.deps.observer?.refused?.(rejection.code, rejection.status);
    if (!(err instanceof CallRejection)) this.ctx.logger.error('admission failed', { error: err instanceof Error ? err.stack : String(err) });
    else this.ctx.logger.info('call refused', { status: rejection.status, code: rejection.code, reason: rejection.reason, caller: this.ctx.callerDialled ?? null });
    const reason = `SIP;cause=${rejection.status};text="${rejection.reason.replace(/"/g, "'")}"`;
    const heard = this.deps.media && !this.callerCancelled ? await this.deps.media.announceRefusal(this.mediaCall(rejection.code), rejection.code, reason) : 'respond';
    if (!this.callerCancelled && heard === 'respond') {
      this.respond(rejection.status, undefined, {
        ...(rejection.headers ?? {}), ...extraHeaders,
        Reason: reason, 'X-Tollgate-Refusal': rejection.code,
      });
    }
    await this.finish('refused', 'refused', { status: rejection.status, reason: rejection.code });
  }

  private mediaCall(refusalCode?: string) {
    return { facts: callFacts(this.ctx.resolution, this.ctx.grant, refusalCode), req: this.req, res: this.res, logger: this.ctx.logger };
  }

  /** A final response to the caller, unless one went already; a dead control link is only logged. */
  private respond(status: number, reason?: string, headers: Record<string, string> = {}): void {
    if (!this.setup || this.res.finalResponseSent) return;
    try {
      if (reason) this.res.send(status, reason, { headers });
      else this.res.send(status, { headers });
    } catch (err) {
      this.ctx.logger.debug('final response not sent', { status, error: String(err) });
    }
  }

  // ------------------------------------------------------------------------------ session timers

  /** RFC 4028 §8.1: a Session-Expires below our Min-SE gets 422. */
  private checkSessionInterval(): void {
    const st = this.deps.config.sessionTimer;
    if (!st?.enabled) return;
    const requested = this.req.has('Session-Expires') ? Number.parseInt(this.req.get('Session-Expires'), 10) : NaN;
    if (Number.isFinite(requested) && requested < st.minSE) {
      throw new CallRejection(422, 'SESSION_INTERVAL_TOO_SMALL', `Session-Expires ${requested} is below ${st.minSE}`, { 'Min-SE': String(st.minSE) });
    }
  }

  /** Session-Expires for our 200 to the caller: its interval and refresher if it asked, ours if not. */
  private callerSessionTimer(): Record<string, string> {
    const st = this.deps.config.sessionTimer;
    if (!st?.enabled) return {};
    const asked = this.req.has('Session-Expires') ? this.req.get('Session-Expires') : '';
    const askedSeconds = Number.parseInt(asked, 10);
    const minSE = this.req.has('Min-SE') ? Number.parseInt(this.req.get('Min-SE'), 10) || 0 : 0;
    const interval = Math.max(Number.isFinite(askedSeconds) ? askedSeconds : st.interval, st.minSE, minSE);
    const supportsTimer = this.req.has('Supported') && /(^|,)\s*timer\s*(,|$)/i.test(this.req.get('Supported'));
    const askedRefresher = /refresher\s*=\s*(uac|uas)/i.exec(asked)?.[1]?.toLowerCase();
    // Only a caller that supports timers can be made the refresher; else we refresh (RFC 4028 §9).
    const refresher = askedRefresher ?? (supportsTimer ? st.refresher : 'uas');
    const headers: Record<string, string> = { 'Session-Expires': `${interval};refresher=${refresher}` };
    if (refresher === 'uac') headers.Require = 'timer';
    return headers;
  }

  /** What the outbound INVITE carries: the caller's Supported options plus timer, and our interval. */
  private calleeSessionTimer(): Record<string, string> {
    const st = this.deps.config.sessionTimer;
    const callerSupported = this.req.has('Supported') ? this.req.get('Supported').split(',').map((s) => s.trim()).filter(Boolean) : [];
    if (!st?.enabled) return callerSupported.length ? { Supported: callerSupported.join(', ') } : {};
    const supported = callerSupported.some((s) => s.toLowerCase() === 'timer') ? callerSupported : [...callerSupported, 'timer'];
    return { 'Session-Expires': `${st.interval};refresher=uac`, 'Min-SE': String(st.minSE), Supported: supported.join(', ') };
  }

  // ------------------------------------------------------------------------------------ dialling

  private async dial(call: AdmittedCall): Promise<void> {
    for (const [i, route] of call.routes.entries()) {
      if (this.state !== CallState.Dialling) return;
      this.egress = route;
      this.releaseTrunk?.();
      this.releaseTrunk = this.deps.trunkCalls.take(route.trunkId);
      let legs: { uas: Srf.Dialog; uac: Srf.Dialog };
      try {
        const callerTimer = this.callerSessionTimer();
        legs = await this.deps.srf.createB2BUA(this.req, this.res, this.targetUri(call, route), {
          headers: { ...this.outboundHeaders(call), ...this.calleeSessionTimer() },
          responseHeaders: ((uacRes: Srf.SrfResponse) => (uacRes.status >= 200 && uacRes.status < 300 ? callerTimer : {})) as unknown as Record<string, string>,
          passFailure: false,
          proxyRequestHeaders: ['Allow', 'Content-Type'],
          ...(this.anchored?.b2bua as object | undefined),
        }, {
          cbRequest: ((_err: unknown, uacReq: Srf.SrfRequest) => {
            this.uacReq = uacReq;
            if (i === 0) this.deps.observer?.dialled?.(this.ctx.callId, performance.now() - this.arrivedAt);
            // Given up before the INVITE went out: take it back at once.
            if (this.state !== CallState.Dialling) this.cancelOutbound(uacReq);
            else this.armNoAnswerTimer();
          }) as unknown as (req: Srf.SrfRequest) => void,
        });
      } catch (err) {
        clearTimeout(this.timers.noAnswer);
        if (this.state !== CallState.Dialling) return; // given up already (no answer, shutdown, lost server)
        const failure = err as SipFailure;
        const status = failure.status ?? 500;
        const more = i < call.routes.length - 1;
        if (!this.callerCancelled && more && (status >= 500 || status === 408)) {
          call.logger.info('route failed; trying the next', { trunk: route.name, status });
          continue;
        }
        await this.failedBeforeAnswer(status, failure.reason ?? '');
        return;
      }
      clearTimeout(this.timers.noAnswer);
      if (this.state !== CallState.Dialling) {
        // Answered after we gave up on it: the call is already settled, so both legs go at once.
        for (const leg of [legs.uas, legs.uac]) leg.destroy(undefined, () => undefined);
        return;
      }
      await this.connected(call, legs.uas, legs.uac);
      return;
    }
    if (this.state === CallState.Dialling) await this.failedBeforeAnswer(487, 'Request Terminated');
  }

  /** Ringing is bounded by calls.noAnswerSeconds, whatever the callee does with our CANCEL. */
  private armNoAnswerTimer(): void {
    clearTimeout(this.timers.noAnswer);
    this.timers.noAnswer = setTimeout(() => void this.giveUpDialling('no_answer'), this.deps.config.noAnswerSeconds * 1000);
  }

  /** CANCEL to the outbound leg; the call is already answered and settled, so a failed send is only logged. */
  private cancelOutbound(uacReq: Srf.SrfRequest): void {
    try {
      uacReq.cancel((err: unknown) => {
        if (err) this.ctx.logger.debug('CANCEL not sent', { error: String(err) });
      });
    } catch (err) {
      this.ctx.logger.debug('CANCEL not sent', { error: String(err) });
    }
  }

  /**
   * We end a call that rings (no answer, operator, shutdown, lost SIP server): CANCEL the outbound
   * INVITE, answer the caller and settle now. Nothing waits for the callee.
   */
  private async giveUpDialling(cause: ReleaseCause): Promise<void> {
    if (this.state !== CallState.Dialling) return;
    if (this.uacReq) this.cancelOutbound(this.uacReq);
    const sent = cause === 'no_answer' ? { status: 480, reason: 'No Answer' }
      : cause === 'shutdown' || cause === 'sip_server_lost' ? { status: 503, reason: 'Service Unavailable' }
        : { status: 480, reason: 'Temporarily Unavailable' };
    const reason = REASONS[cause] ?? `SIP;cause=${sent.status};text="call ended by ${cause}"`;
    this.respond(sent.status, sent.reason, { Reason: reason });
    await this.finish(cause, cause === 'no_answer' ? 'no_answer' : 'failed', sent);
  }

  private async failedBeforeAnswer(status: number, reason: string): Promise<void> {
    if (this.callerCancelled) {
      await this.finish('caller_cancel', 'cancelled', { status: 487, reason: 'Request Terminated' });
      return;
    }
    const sent = { status, reason };
    this.respond(sent.status, sent.reason || undefined);
    const disposition: CdrDisposition = [486, 600].includes(status) ? 'busy'
      : [408, 480].includes(status) ? 'no_answer'
        : 'failed';
    // A 408 is a timeout (ours or the callee's), not a refusal by the callee.
    await this.finish(status === 408 ? 'callee_timeout' : 'callee_refused', disposition, sent);
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
    this.grant = call.grant;
    this.moveTo(CallState.Answered);
    this.forgetSetup(uas, uac);
    this.wireLegs(uas, uac);
    this.anchored?.answered();
    call.logger.info('call answered', { trunk: this.egress?.name });
    this.deps.observer?.answered?.(call.callId);
    try {
      this.answerQuote = this.requote(call);
      const recovery = { dialogs: this.dialogIds, rating: JSON.stringify(this.recoveryRecord(call)) };
      const grant = await this.deps.credit.answer(call.callId, this.answerQuote, recovery);
      this.grant = grant;
      if (this.state !== CallState.Answered || this.lost) return;
      this.deps.observer?.grant?.('answer', grant);
      this.scheduleGrant(grant);
    } catch (err) {
      call.logger.error('credit control failed at answer; ending the call', { error: String(err) });
      await this.end('error');
      return;
    }
    this.timers.checkpoint = setInterval(() => this.checkpoint(), this.deps.config.checkpointSeconds * 1000);
    this.timers.checkpoint.unref();
  }

  /**
   * Kept with the reservation at answer: what another instance needs to price this call again and
   * to write a full CDR for it if this one dies (app/calls/recovered-cdr.ts reads it back).
   */
  private recoveryRecord(call: AdmittedCall): StoredCallRecord {
    const r = call.resolution;
    const quote = this.answerQuote ?? call.quote;
    return {
      attributes: r.attributes,
      cdr: {
        sipCallId: call.sipCallId, inviteAt: call.inviteAt.toISOString(), callerDialled: call.callerDialled ?? null, callerE164: r.caller.e164,
        calleeDialled: call.calleeDialled ?? null, calleeE164: r.callee.e164, presentedCaller: r.presentedCaller ?? null, scope: r.scope,
        service: r.service, vpnGroup: r.caller.groupCode ?? null, ingressTrunk: call.ingressTrunk?.name ?? null, egressTrunk: this.egress?.name ?? null,
        ruleId: quote.ruleId ?? null, tariffId: quote.tariffId ?? null, currency: quote.currency ?? null,
      },
    };
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

  /**
   * Answered: a CANCEL or an early-dialog UPDATE on the INVITE can no longer come (in-dialog
   * requests go to the legs). Their listeners on the INVITE (ours and createB2BUA's) are dropped,
   * as the INVITE lives as long as the call and the listeners would keep the whole set-up (the
   * outbound INVITE, its responses, createB2BUA's closures) in memory with it.
   */
  private forgetSetup(uas: Srf.Dialog, uac: Srf.Dialog): void {
    const invite = this.req as unknown as NodeJS.EventEmitter;
    invite.removeAllListeners('cancel');
    invite.removeAllListeners('update');
    this.uacReq = undefined;
    this.setup = undefined;
    if (this.ctx.callerUri !== undefined) this.ctx.callerUri = own(this.ctx.callerUri);
    compactDialog(uas);
    compactDialog(uac);
  }

  private wireLegs(uas: Srf.Dialog, uac: Srf.Dialog): void {
    uas.on('destroy', (bye: Srf.SrfRequest) => void this.end(byeCause(bye, 'caller_bye')));
    uac.on('destroy', (bye: Srf.SrfRequest) => void this.end(byeCause(bye, 'callee_bye')));
    for (const [from, to] of [[uas, uac], [uac, uas]] as const) {
      from.on('modify', (req: Srf.SrfRequest, res: Srf.SrfResponse) => {
        (this.anchored ? this.anchored.modify(from === uas ? 'caller' : 'callee', req.body) : to.modify(req.body)).then((sdp) => res.send(200, { body: sdp }), (err: SipFailure) => res.send(err.status ?? 488));
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
    this.timers.cutoff = setTimeout(() => void this.end(this.cutoffCause(grant)), Math.max(0, endMs - Date.now()));
    if (!grant.final) {
      const at = endMs - this.deps.config.reauthLeadSeconds * 1000;
      this.timers.extend = setTimeout(() => void this.extendGrant(), Math.max(0, at - Date.now()));
    }
    this.anchored?.grantInForce(grant, this.answerAt!.getTime());
    this.ctx.logger.debug('grant in force', { seconds: grant.grantedSeconds, final: grant.final });
  }

  /** Why the call ends at the end of its grant: the money, or the database that could not give more. */
  private cutoffCause(grant: Grant): ReleaseCause {
    if (this.extensionFailure) return this.extensionFailure;
    // Asked for more and still without an answer at the end of the grant: the database is slow or
    // stalled (the statement timeout has not yet run out); the money was not what ran out.
    if (this.extensionPending) return 'database_unavailable';
    return grant.finalCause === 'database_unavailable' ? 'database_unavailable' : 'credit_exhausted';
  }

  private async extendGrant(): Promise<void> {
    this.extensionPending = true;
    try {
      const grant = await this.deps.credit.extend(this.ctx.callId);
      this.extensionPending = false;
      this.deps.observer?.grant?.('extension', grant);
      if (grant.lowBalance) this.deps.observer?.lowBalance?.(grant.accountId, this.ctx.callId);
      // A call told to end with its grant (suspension) keeps the grant it had.
      if (this.state === CallState.Answered && !this.lost && !this.extensionFailure) this.scheduleGrant(grant);
    } catch (err) {
      // The cut-off at the end of the current grant stands: a call never runs unpaid.
      this.extensionPending = false;
      this.extensionFailure = err instanceof AppError && err.code === 'DB_UNAVAILABLE' ? 'database_unavailable' : 'error';
      this.ctx.logger.warn('grant extension failed; the call ends with its grant', { error: String(err) });
    }
  }

  private checkpoint(): void {
    if (this.state !== CallState.Answered || !this.answerAt || this.lost) return;
    const seconds = Math.floor((Date.now() - this.answerAt.getTime()) / 1000);
    this.deps.credit.checkpoint(this.ctx.callId, seconds).catch((err: unknown) => {
      this.ctx.logger.warn('checkpoint not written', { error: String(err) });
    });
  }

  // ------------------------------------------------------------------------------ lost SIP server

  /**
   * The control connection to the SIP server dropped. A ringing call is given up; an answered
   * one is frozen: never extended, cut off or checkpointed again, until the application learns
   * when it really ended (settleLost) or gives up waiting.
   */
  sipServerLost(at: Date): void {
    if (this.state === CallState.Admitting) { this.abandoned ??= 'sip_server_lost'; return; }
    if (this.state === CallState.Dialling) { void this.giveUpDialling('sip_server_lost'); return; }
    if (this.state !== CallState.Answered || this.lost) return;
    this.lost = at;
    clearTimeout(this.timers.extend);
    clearTimeout(this.timers.cutoff);
    clearInterval(this.timers.checkpoint);
    this.ctx.logger.warn('SIP server connection lost under the call; it is no longer extended', { lostAt: at.toISOString() });
  }

  /** Settles a call of a lost connection at the moment it really ended (no BYE: the legs are gone). */
  settleLost(endAt: Date, cause: ReleaseCause = 'sip_server_lost'): Promise<void> {
    if (this.state !== CallState.Answered) return this.ending ?? Promise.resolve();
    this.ending ??= this.endAnswered(cause, endAt, false);
    return this.ending;
  }

  // ------------------------------------------------------------------------------------ ending

  /** Ends the call (BYE to the legs still up, or CANCEL while it rings) and settles it; safe to call any number of times. */
  end(cause: ReleaseCause): Promise<void> {
    if (this.state === CallState.Admitting) {
      // Admission is deciding on money: it finishes first, then the call is given up (run()).
      this.abandoned ??= cause;
      this.unanswered ??= new Promise<void>((resolve) => { this.resolveUnanswered = resolve; });
      return this.unanswered;
    }
    if (this.state === CallState.Dialling) return this.giveUpDialling(cause);
    if (this.state === CallState.Ending || this.state === CallState.Ended) return this.ending ?? this.finishing ?? Promise.resolve();
    // A call of a lost connection cannot be reached: it is settled at the moment of the loss.
    this.ending ??= this.lost ? this.endAnswered(cause, this.lost, false) : this.endAnswered(cause);
    return this.ending;
  }

  private async endAnswered(cause: ReleaseCause, endAt = new Date(), sendBye = true): Promise<void> {
    this.clearTimers();
    const reason = REASONS[cause];
    const headers = reason && cause !== 'no_answer' ? { Reason: reason } : undefined;
    const byeTo = (leg: Srf.Dialog | undefined, skip: boolean): void => {
      if (!leg || skip || !sendBye) return;
      try {
        leg.destroy(headers ? { headers } : undefined, (err: unknown) => {
          if (err) this.ctx.logger.debug('BYE not sent', { error: String(err) });
        });
      } catch (err) {
        this.ctx.logger.debug('BYE not sent', { error: String(err) });
      }
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
  private finish(cause: ReleaseCause, disposition: CdrDisposition, final: { status: number; reason: string }, endAt = new Date(), billable = 0): Promise<void> {
    this.finishing ??= this.settleAndRecord(cause, disposition, final, endAt, billable);
    return this.finishing;
  }

  private async settleAndRecord(cause: ReleaseCause, disposition: CdrDisposition, final: { status: number; reason: string }, endAt: Date, billable: number): Promise<void> {
    this.moveTo(CallState.Ending);
    this.finalStatus = final;
    this.clearTimers();
    this.anchored?.release();
    this.releaseTrunk?.();
    const { ctx } = this;
    let settlement: Settlement | undefined;
    try {
      if (ctx.grant && disposition === 'answered') {
        // The CDR goes with the charge, in its statement: no crash can fall between them.
        settlement = await this.deps.credit.settle(ctx.callId, billable, this.answerQuote ?? ctx.quote,
          (settled) => callRecordText(this.cdr(cause, disposition, endAt, settled.billableSeconds, undefined)));
      } else if (ctx.grant) {
        await this.deps.credit.release(ctx.callId);
      }
    } catch (err) {
      ctx.logger.error('settlement failed', { error: err instanceof Error ? err.stack : String(err), billable });
    }
    const cdr = this.cdr(cause, disposition, endAt, billable, settlement);
    try {
      if (!settlement?.recorded) await this.deps.writeCdr(cdr);
    } catch (err) {
      ctx.logger.error('CDR not written', { error: String(err), cdr: { ...cdr, cost: moneyText(cdr.cost, cdr.currency) } });
    }
    ctx.logger.info('call ended', {
      disposition, cause, status: final.status, caller: cdr.callerE164 ?? cdr.callerDialled, callee: cdr.calleeE164 ?? cdr.calleeDialled, scope: cdr.scope,
      billableSeconds: billable, cost: moneyText(cdr.cost, cdr.currency), journalled: settlement?.journalled ?? false,
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
      charging: r?.caller.groupCode !== undefined ? r.charging ?? 'business' : null,
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
