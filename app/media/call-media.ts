import type Srf from 'drachtio-srf';
import { AppError, errorMessage } from '../../lib/common/errors';
import type { Logger } from '../../lib/common/logger';
import {
  MediaPolicy, mixCommand, remainingCallSeconds, renderPrompt, spokenMinutes, warningDelayMs,
  type CallFacts, type MediaPlan, type MediaRules, type Prompt, type PromptName, type PromptValues,
} from '../../lib/media';
import type { Account, CallPricer, Grant } from '../../lib/prepaid';
import { withTimeout, type Endpoint, type FreeswitchMediaServer } from './media-server';
import type { MediaFailure, MediaMetrics } from './metrics';

/** A call as the media layer sees it. */
export interface MediaCall {
  facts: CallFacts;
  req: Srf.SrfRequest;
  res: Srf.SrfResponse;
  logger: Logger;
}

/**
 * What the call session asks of the media layer. Every method bounds its own waits and never
 * throws: media that fails is counted and logged, and the call goes on as if there were none.
 */
export interface CallMedia {
  /**
   * A refusal about to be sent: plays the no-credit announcement first when the rules say so.
   * 'respond': the session sends its final response as always (after early media, if any);
   * 'hung_up': the caller was answered, heard it, and got BYE with `reason`.
   */
  announceRefusal(call: MediaCall, code: string, reason: string): Promise<'respond' | 'hung_up'>;
  /** An admitted call, before its outbound INVITE: remaining time in early media, and anchoring. Null: media end to end. */
  prepare(call: MediaCall & { grant: Grant; pricer: CallPricer }): Promise<AnchoredMedia | null>;
}

/** A call whose two legs are on media-server endpoints, bridged by it once answered. */
export interface AnchoredMedia {
  /** For createB2BUA: offer the callee endpoint B's SDP, answer the caller with endpoint A's. */
  readonly b2bua: { localSdpB: string; localSdpA: (sdpB: string) => Promise<string> };
  /** The callee answered: remaining time to the caller if at answer, then the bridge. Not awaited by the call. */
  answered(): void;
  /** A grant is in force: a final one arms the warning. */
  grantInForce(grant: Grant, answerAtMs: number): void;
  /** A re-INVITE from one party is answered by its own endpoint. */
  modify(leg: 'caller' | 'callee', sdp: string): Promise<string>;
  /** The call ended: endpoints go, the warning timer is cleared. */
  release(): void;
}

export interface MediaServiceDeps {
  srf: Srf;
  server: FreeswitchMediaServer;
  rules: MediaRules;
  metrics: MediaMetrics;
  accounts: { require(id: number): Promise<Account> };
  promptTimeoutSeconds: number;
  logger: Logger;
}

export class MediaService implements CallMedia {
  private readonly policy: MediaPolicy;
  private fallbackLogged = false;

  constructor(private readonly deps: MediaServiceDeps) {
    this.policy = new MediaPolicy(deps.rules);
    deps.server.on('up', () => { this.fallbackLogged = false; deps.metrics.serverUp(true); });
    deps.server.on('down', () => deps.metrics.serverUp(false));
  }

  get serverUp(): boolean { return this.deps.server.isUp; }

  async announceRefusal(call: MediaCall, code: string, reason: string): Promise<'respond' | 'hung_up'> {
    const plan = this.policy.refusal(code, call.facts);
    if (!plan || !this.available(call)) return 'respond';
    let ep: Endpoint | undefined;
    try {
      ep = await this.endpoint(call.req.body);
      if (plan.mode === 'early') {
        call.res.send(183, { body: ep.local.sdp, headers: { 'Content-Type': 'application/sdp' } });
        await this.play(ep, plan.prompt, {}, 'no_credit', call);
        return 'respond';
      }
      const dialog = await this.deps.srf.createUAS(call.req, call.res, { localSdp: ep.local.sdp });
      let callerGone = false;
      const hungUp = new Promise<void>((resolve) => dialog.once('destroy', () => { callerGone = true; resolve(); }));
      await Promise.race([this.play(ep, plan.prompt, {}, 'no_credit', call), hungUp]);
      if (!callerGone) dialog.destroy({ headers: { Reason: reason } }, () => undefined);
      return 'hung_up';
    } catch (err) {
      this.failed(call, 'no_credit', err);
      return call.res.finalResponseSent ? 'hung_up' : 'respond';
    } finally {
      this.drop(ep, call.logger);
    }
  }

  async prepare(call: MediaCall & { grant: Grant; pricer: CallPricer }): Promise<AnchoredMedia | null> {
    const plan = this.policy.planFor(call.facts);
    if (!plan || !this.available(call)) return null;
    let caller: Endpoint | undefined;
    let callee: Endpoint | undefined;
    try {
      caller = await this.endpoint(call.req.body);
      if (plan.anchor) callee = await this.endpoint();
      if (plan.remainingTime?.when === 'before_connect') {
        call.res.send(183, { body: caller.local.sdp, headers: { 'Content-Type': 'application/sdp' } });
        await this.play(caller, plan.remainingTime.prompt, await this.remainingValues(call), 'remaining_time', call)
          .catch((err: unknown) => this.failed(call, 'remaining_time', err));
      }
      if (!plan.anchor || !callee) { this.drop(caller, call.logger); return null; }
      return new AnchoredCall(this, call, plan, caller, callee);
    } catch (err) {
      this.failed(call, 'anchor', err);
      this.drop(caller, call.logger);
      this.drop(callee, call.logger);
      return null;
    }
  }

  // ------------------------------------------------------------------------- for AnchoredCall

  /** Plays an announcement on an endpoint, part after part, bounded as a whole; counted when it played to the end. */
  async play(ep: Endpoint, prompt: Prompt, values: PromptValues, name: PromptName, call: MediaCall): Promise<void> {
    const until = Date.now() + this.deps.promptTimeoutSeconds * 1000;
    const cancelled = new Promise<never>((_resolve, reject) => (call.req as unknown as NodeJS.EventEmitter).once('cancel', () => reject(new AppError('CALLER_CANCELLED', 'the caller cancelled during the announcement'))));
    cancelled.catch(() => undefined);
    for (const { app, arg } of renderPrompt(prompt, values)) {
      const evt = await Promise.race([withTimeout(ep.execute(app, arg), Math.max(1, until - Date.now()), `${name} announcement not played`), cancelled]);
      const response = evt.getHeader('Application-Response');
      if (response === 'FILE NOT FOUND') throw new Error(`${name}: file not found on the media server: ${arg}`);
    }
    this.deps.metrics.announced(name);
    call.logger.info('announcement played', { prompt: name });
  }

  /** Mixes the warning into the running call on one endpoint (its party hears it over the other's voice). */
  async mix(ep: Endpoint, prompt: Prompt, limitSeconds: number, call: MediaCall): Promise<void> {
    const reply = await this.deps.server.api(mixCommand(ep.uuid, prompt[0]!, limitSeconds), this.deps.promptTimeoutSeconds * 1000);
    if (!reply.startsWith('+OK')) throw new Error(`uuid_displace: ${reply.trim()}`);
    this.deps.metrics.announced('warning');
    call.logger.info('announcement played', { prompt: 'warning' });
  }

  failed(call: MediaCall, what: PromptName | 'anchor', err: unknown, reason?: MediaFailure): void {
    const message = errorMessage(err);
    // A caller who hangs up during a prompt is no failure of the media.
    if (err instanceof AppError && err.code === 'CALLER_CANCELLED') { call.logger.debug('announcement cut short by the caller', { media: what }); return; }
    reason = err instanceof AppError && err.code === 'MEDIA_TIMEOUT' ? 'timeout' : reason ?? (what === 'anchor' ? 'endpoint_failed' : 'play_failed');
    this.deps.metrics.failed(what, reason);
    call.logger.warn('media failed; the call goes on without it', { media: what, reason, error: message });
  }

  drop(ep: Endpoint | undefined, logger: Logger): void {
    if (!ep) return;
    withTimeout(ep.destroy(), 5000, 'endpoint not released').catch((err: unknown) => logger.debug('media endpoint not released', { error: errorMessage(err) }));
  }

  async remainingValues(call: { grant: Grant; pricer: CallPricer; logger: Logger }): Promise<PromptValues> {
    let account: Account | null = null;
    try {
      account = call.grant.final ? null : await withTimeout(this.deps.accounts.require(call.grant.accountId), 2000, 'account not read');
    } catch (err) {
      // The grant alone still tells a true minimum.
      call.logger.debug('account not read for the remaining-time prompt', { error: errorMessage(err) });
    }
    const seconds = remainingCallSeconds(call.grant, account, call.pricer);
    return { minutes: spokenMinutes(seconds), seconds };
  }

  private async endpoint(remoteSdp?: string): Promise<Endpoint> {
    return withTimeout(this.deps.server.createEndpoint(remoteSdp), 10_000, 'media endpoint not created');
  }

  /** The rules want media for this call: is there a media server? A fallback is counted, and logged once per outage. */
  private available(call: MediaCall): boolean {
    if (this.deps.server.isUp) return true;
    this.deps.metrics.fellBack('media_server_down');
    if (!this.fallbackLogged) {
      this.fallbackLogged = true;
      this.deps.logger.warn('media server unavailable: calls selected for media go without it', { lastError: this.deps.server.lastError });
    }
    call.logger.debug('no media server: call goes without media');
    return false;
  }
}

/** Both legs anchored on the media server: A (caller) and B (callee), bridged at answer. */
class AnchoredCall implements AnchoredMedia {
  readonly b2bua: AnchoredMedia['b2bua'];
  private warningTimer: NodeJS.Timeout | undefined;
  private released = false;
  private gone = false;

  constructor(private readonly media: MediaService, private readonly call: MediaCall & { grant: Grant; pricer: CallPricer },
    private readonly plan: MediaPlan, private readonly caller: Endpoint, private readonly callee: Endpoint) {
    this.b2bua = {
      localSdpB: callee.local.sdp,
      localSdpA: async (sdpB: string) => { await callee.modify(sdpB); return caller.local.sdp; },
    };
    // An endpoint that dies (media server gone) takes the audio, never the call or its metering.
    for (const ep of [caller, callee]) {
      ep.once('destroy', () => {
        if (this.released || this.gone) return;
        this.gone = true;
        call.logger.warn('media endpoint ended under the call; the call and its metering go on');
      });
    }
  }

  answered(): void {
    void this.connect();
  }

  private async connect(): Promise<void> {
    const rt = this.plan.remainingTime;
    if (rt?.when === 'at_answer' && !this.released) {
      // Played before the bridge: the callee waits the few seconds it takes.
      await this.media.play(this.caller, rt.prompt, await this.media.remainingValues(this.call), 'remaining_time', this.call)
        .catch((err: unknown) => this.media.failed(this.call, 'remaining_time', err));
    }
    if (this.released) return;
    try {
      await withTimeout(this.caller.bridge(this.callee), 5000, 'bridge not made');
    } catch (err) {
      this.media.failed(this.call, 'anchor', err, 'bridge_failed');
    }
  }

  grantInForce(grant: Grant, answerAtMs: number): void {
    const w = this.plan.warning;
    clearTimeout(this.warningTimer);
    if (!w || this.released) return;
    const delay = warningDelayMs(grant, answerAtMs, w.secondsBefore, Date.now());
    if (delay === null) return;
    const endMs = answerAtMs + grant.grantedSeconds * 1000;
    this.warningTimer = setTimeout(() => void this.warn(endMs), delay);
    this.warningTimer.unref();
  }

  private async warn(endMs: number): Promise<void> {
    const w = this.plan.warning!;
    const left = (endMs - Date.now()) / 1000;
    const legs = w.callee ? [this.caller, this.callee] : [this.caller];
    await Promise.all(legs.map((ep) => this.media.mix(ep, w.prompt, left, this.call)
      .catch((err: unknown) => this.media.failed(this.call, 'warning', err))));
  }

  async modify(leg: 'caller' | 'callee', sdp: string): Promise<string> {
    const ep = leg === 'caller' ? this.caller : this.callee;
    await withTimeout(ep.modify(sdp), 10_000, 're-INVITE to the media server not answered');
    return ep.local.sdp;
  }

  release(): void {
    if (this.released) return;
    this.released = true;
    clearTimeout(this.warningTimer);
    this.media.drop(this.caller, this.call.logger);
    this.media.drop(this.callee, this.call.logger);
  }
}
