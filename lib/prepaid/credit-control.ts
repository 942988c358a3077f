import type { Logger } from '../common/logger';
import { silentLogger } from '../common/logger';
import { outcomeUnknown } from '../common/errors';
import { formatMoney, moneyText, type Micros } from '../common/money';
import { AccountService, MAX_KEY_LENGTH, type PostOptions } from './accounts';
import { isDecision, isUnavailable, PrepaidError } from './errors';
import { FileSettlementJournal, type JournalRecord, type SettlementJournal } from './journal';
import type { PrepaidStore, StepOutcome } from './store';
import type {
  Account, Authorisation, CallPricer, CallRecordOf, FinalCause, Grant, GrantMode, LedgerEntry, OrphanEnds, RecoveryInfo, Refusal,
  Reservation, ReservationStep, Settlement,
} from './types';

export interface FailurePolicy {
  /** Database unreachable at authorise: refuse the call (default) or admit it unreserved. */
  newCalls: 'refuse' | 'admit';
  /** Database unreachable at extend: end the call when its grant ends (default) or allow a grace. */
  liveCalls: 'end' | 'grace';
  /** The most unreserved seconds a live call gets under the grace policy. */
  graceSeconds: number;
}

export interface CreditControlOptions {
  /** This application instance: owner of the reservations it opens. */
  instanceId: string;
  /** The slice granted at authorise and at each extension. */
  grantSeconds: number;
  /** How long before a grant ends the call session asks to extend it (for the session's timer). */
  reauthLeadSeconds: number;
  failurePolicy: FailurePolicy;
  heartbeatSeconds: number;
  /** How often the call session should call checkpoint() (for the session's timer). */
  checkpointSeconds: number;
  /** An instance without a heartbeat for this long is dead; default 3 heartbeats. */
  instanceStaleSeconds?: number;
  /**
   * How long after its last checkpoint an orphaned call still up on the SIP server (or a server
   * not reachable yet) is waited for before it is settled at that checkpoint; default 5 minutes.
   */
  liveOrphanWaitMs?: number;
}

export const DEFAULT_CREDIT_CONTROL_OPTIONS: Omit<CreditControlOptions, 'instanceId'> = {
  grantSeconds: 300,
  reauthLeadSeconds: 10,
  failurePolicy: { newCalls: 'refuse', liveCalls: 'end', graceSeconds: 60 },
  heartbeatSeconds: 5,
  checkpointSeconds: 30,
};

/**
 * A reservation settled after its instance was lost (answered: to its real end when the SIP server
 * knew it, else to its last checkpoint) or released (never answered).
 */
export interface RecoveredCall {
  reservation: Reservation;
  answered: boolean;
  billableSeconds: number;
  charged: Micros;
  ledgerKey: string | null;
  /** When the call really ended, as the SIP server saw it; null when settled at the checkpoint or released. */
  endAt: Date | null;
}

export interface CreditControlDeps {
  store: PrepaidStore;
  journal: SettlementJournal;
  logger?: Logger;
  clock?: () => Date;
  /** Told of every call recovered from a lost instance (the application writes its CDR). */
  onRecovered?: (call: RecoveredCall) => Promise<void>;
  /** Asks the SIP server when orphaned dialogs ended; without it orphans are settled at their checkpoint. */
  orphanEnds?: (dialogs: string[]) => Promise<OrphanEnds>;
  /** The pricer of a call from its stored rating attributes (may throw). */
  repricer?: (rating: string, answeredAt: Date) => CallPricer;
}

export interface CallRequest {
  callId: string;
  accountId: number;
  /** The tariff bound to the call at INVITE time. */
  pricer: CallPricer;
  /** Further accounts holding the same money, all or none with accountId (a member's cap accounts under a pool). */
  extraHolds?: number[];
  /** The most seconds the call may last (a per-call cap); absent: as long as the money lasts. */
  maxSeconds?: number;
}

/** What this instance knows about a call it is metering. */
interface LiveCall {
  callId: string;
  accountId: number;
  reservationId: number | null;
  mode: GrantMode;
  pricer: CallPricer;
  grantedSeconds: number;
  reserved: Micros;
  answered: boolean;
  extensions: number;
  graceGranted: number;
  first: Grant;
  answerGrant?: Grant;
  maxSeconds?: number;
}

const ATTEMPTS = 5;
const MAX_KIND_HINTS = 100_000;
const RECOVERY_PAGE = 200;
const RECOVERY_PAGES = 50;
/** Lost authorisations looked up for 70 s: past InnoDB's default lock wait (50 s) and a statement timeout. */
const LOST_AUTHORISATION_WINDOW_MS = 70_000;
const LOST_AUTHORISATIONS_PER_BEAT = 500;
const MAX_LOST_AUTHORISATIONS = 100_000;
const LIVE_ORPHAN_WAIT_MS = 5 * 60_000;
/** A SIP server that does not answer in this time is treated as not connected (asked again next pass). */
const ORPHAN_ENDS_TIMEOUT_MS = 5_000;
/** Recovery info longer than this is not stored (the column is TEXT); the call recovers at checkpoints. */
const MAX_RECOVERY_CHARS = 60_000;

/** What a first grant asks the store to hold. */
interface FirstGrant { mode: 'reserved' | 'postpaid'; seconds: number; amount: Micros; required: Micros; final: boolean }

/** How a recovery pass settles one answered orphan. */
type OrphanVerdict =
  | { kind: 'real-end'; endAt: Date }
  | { kind: 'wait'; why: string }
  | { kind: 'checkpoint'; why: string };

/**
 * Real-time credit control for one application instance: authorise → answer → extend* → settle,
 * or release for a call never answered. Money is set aside by one conditional statement per step
 * (PrepaidStore), so concurrent calls on one account can never spend more than it holds; every step
 * is idempotent by the call id (and step), so a replay changes nothing.
 */
export class CreditControl {
  readonly accounts: AccountService;
  private readonly store: PrepaidStore;
  private readonly journal: SettlementJournal;
  private readonly logger: Logger;
  private readonly clock: () => Date;
  private readonly onRecovered: CreditControlDeps['onRecovered'];
  private readonly orphanEnds: CreditControlDeps['orphanEnds'];
  private readonly repricer: CreditControlDeps['repricer'];
  private readonly calls = new Map<string, LiveCall>();
  /** Accounts last seen postpaid: the database checks the kind, this only saves a refused first try. */
  private readonly postpaid = new Set<number>();
  /** Reservations of this instance id opened before this process existed are its previous life's. */
  private readonly startedAt: Date;
  private timer: NodeJS.Timeout | undefined;
  private beats = 0;
  private replaying: Promise<JournalReplay> | undefined;
  private ownLeftoversDone = false;
  private recovering = false;
  /**
   * Calls whose authorisation was sent and lost its answer (statement timeout, connection lost),
   * by when that was seen: the server may have opened their reservation all the same. Looked up
   * at each beat the database answers, released when found, forgotten after LOST_AUTHORISATION_WINDOW_MS.
   */
  private readonly lostAuthorisations = new Map<string, number>();

  constructor(deps: CreditControlDeps, readonly options: CreditControlOptions) {
    this.store = deps.store;
    this.journal = deps.journal;
    this.logger = deps.logger ?? silentLogger();
    this.clock = deps.clock ?? (() => new Date());
    this.onRecovered = deps.onRecovered;
    this.orphanEnds = deps.orphanEnds;
    this.repricer = deps.repricer;
    this.startedAt = this.clock();
    this.accounts = new AccountService(this.store, this.clock);
    if (!Number.isInteger(options.grantSeconds) || options.grantSeconds < 1) throw new RangeError('grantSeconds must be a positive whole number');
    if (!Number.isInteger(options.failurePolicy.graceSeconds) || options.failurePolicy.graceSeconds < 0) throw new RangeError('graceSeconds must be a whole number >= 0');
  }

  // ---------------------------------------------------------------- lifecycle

  /**
   * Start metering: heartbeat, replay the journal, settle the reservations of dead instances, and
   * keep doing so every heartbeat. Survives an unreachable database (it retries on each beat).
   */
  async start(): Promise<void> {
    await this.beat();
    if (this.timer) return;
    const everyMs = Math.max(1, this.options.heartbeatSeconds) * 1000;
    this.timer = setInterval(() => { void this.beat(); }, everyMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.replaying;
    await this.journal.close();
  }

  /** One heartbeat; after a database outage this is also where the journal is replayed. */
  async beat(): Promise<void> {
    try {
      await this.store.heartbeat(this.options.instanceId, this.clock());
    } catch (err) {
      this.logger.debug('prepaid heartbeat failed', { error: String(err) }); // the outage is logged once, by the database watch
      return;
    }
    if (this.journal.pending().length > 0) await this.replayJournal();
    if (this.lostAuthorisations.size > 0) await this.releaseLostAuthorisations();
    // A recovery pass may wait on the SIP server; the next beat still heartbeats but does not start another.
    if (this.recovering) return;
    this.recovering = true;
    try {
      if (!this.ownLeftoversDone) {
        await this.recoverOwnLeftovers()
          .then((pass) => { this.ownLeftoversDone = pass.waiting === 0; })
          .catch((err: unknown) => this.logger.warn('prepaid recovery of own reservations failed', { error: String(err) }));
      }
      if (this.beats++ % 3 === 0) {
        const stale = (this.options.instanceStaleSeconds ?? 3 * this.options.heartbeatSeconds) * 1000;
        await this.recoverDeadInstances(stale).catch((err: unknown) => this.logger.warn('prepaid recovery failed', { error: String(err) }));
      }
    } finally {
      this.recovering = false;
    }
  }

  /** Settlements and releases waiting in the journal for the database. */
  journalPending(): number {
    return this.journal.pending().length;
  }

  /** Calls this instance is metering. */
  liveCallCount(): number {
    return this.calls.size;
  }

  // ---------------------------------------------------------------- accounts

  topup(accountId: number, amount: Micros, key: string, opts?: PostOptions): Promise<LedgerEntry> {
    return this.accounts.topup(accountId, amount, key, opts);
  }

  adjust(accountId: number, amount: Micros, key: string, opts?: PostOptions): Promise<LedgerEntry> {
    return this.accounts.adjust(accountId, amount, key, opts);
  }

  // ---------------------------------------------------------------- authorise

  /** At INVITE: a first grant with money set aside, or a refusal with a reason. */
  async authorise(req: CallRequest): Promise<Authorisation> {
    validateCallId(req.callId);
    const known = this.calls.get(req.callId);
    if (known) {
      if (known.accountId !== req.accountId) throw conflict(req.callId, 'authorised for another account');
      return { granted: true, grant: { ...known.first, replay: true } };
    }
    try {
      return await this.reserveFirstGrant(req);
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      if (outcomeUnknown(err)) this.rememberLostAuthorisation(req.callId);
      return this.authoriseOffline(req, err);
    }
  }

  private rememberLostAuthorisation(callId: string): void {
    if (this.lostAuthorisations.size >= MAX_LOST_AUTHORISATIONS) {
      // Beyond the bound, a reservation left is released by the recovery of the next start.
      this.logger.warn('authorisation lost and not tracked: too many waiting for the database', { callId, tracked: this.lostAuthorisations.size });
      return;
    }
    this.lostAuthorisations.set(callId, this.clock().getTime());
  }

  /** Calls whose lost authorisation is still to be looked up. */
  lostAuthorisationCount(): number {
    return this.lostAuthorisations.size;
  }

  /**
   * Releases the reservations that lost authorisations opened after all: the call was refused, or
   * admitted unreserved, and nothing else would give that money back before a restart. A call still
   * metered here (admitted unreserved, or authorised again) is looked at once it has ended. Each
   * call is looked up at every beat for LOST_AUTHORISATION_WINDOW_MS, longer than a statement can
   * wait on the server (a lock wait), and at least once after it.
   */
  private async releaseLostAuthorisations(): Promise<void> {
    const now = this.clock().getTime();
    let looked = 0;
    for (const [callId, since] of this.lostAuthorisations) {
      if (this.calls.has(callId)) continue;
      if (looked++ >= LOST_AUTHORISATIONS_PER_BEAT) break;
      try {
        const r = await this.store.findReservation(callId);
        if (r && r.state === 'active' && r.ownerInstance === this.options.instanceId && r.answeredAt === null) {
          await this.release(callId);
          this.lostAuthorisations.delete(callId);
          this.logger.warn('reservation of a call whose authorisation was lost released', { callId, accountId: r.accountId, reservationId: r.id });
          continue;
        }
      } catch (err) {
        this.logger.debug('lost authorisations not looked up', { error: String(err) });
        return; // the database went again: the next beat goes on
      }
      if (now - since >= LOST_AUTHORISATION_WINDOW_MS) this.lostAuthorisations.delete(callId);
    }
  }

  private async reserveFirstGrant(req: CallRequest): Promise<Authorisation> {
    const { pricer } = req;
    // Most calls are on prepaid accounts with money for a whole slice: ask for that without reading
    // the account first; the store refuses atomically otherwise, and only then is the account read.
    let decision: Refusal | FirstGrant = capGrant(this.wholeSlice(pricer, this.postpaid.has(req.accountId)), req.maxSeconds, pricer);
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      if ('code' in decision) return { granted: false, refusal: decision };
      const outcome = await this.store.openReservation({
        accountId: req.accountId, ...(req.extraHolds?.length ? { extraHolds: req.extraHolds } : {}), callId: req.callId, currency: pricer.currency, mode: decision.mode, amount: decision.amount,
        required: decision.required, seconds: decision.seconds, final: decision.final,
        ownerInstance: this.options.instanceId, at: this.clock(),
      });
      if (outcome.status === 'refused') {
        if (outcome.refusedBy === req.accountId) this.learnKind(req.accountId, outcome.account);
        decision = capGrant(this.firstGrant(outcome.account, pricer), req.maxSeconds, pricer);
        continue;
      }
      if (outcome.status === 'exists') return this.authoriseReplayed(req, outcome.reservation, outcome.step);
      const grant = this.track(req, outcome.reservation, outcome.step, outcome.lowBalance, false);
      this.logger.info('call authorised', { callId: req.callId, accountId: req.accountId, seconds: grant.grantedSeconds, reserved: moneyText(grant.reserved, pricer.currency) });
      return { granted: true, grant };
    }
    // Other calls kept taking the money between our read and our update.
    return { granted: false, refusal: { code: 'INSUFFICIENT_FUNDS', reason: 'available money taken by concurrent calls' } };
  }

  /** A whole slice: what the first attempt asks for, on an account of the kind it was last seen. */
  private wholeSlice(pricer: CallPricer, postpaid: boolean): FirstGrant {
    const seconds = Math.max(this.options.grantSeconds, pricer.firstStepSeconds, 1);
    if (postpaid) return { mode: 'postpaid', seconds, amount: 0n, required: pricer.price(pricer.firstStepSeconds), final: false };
    const amount = pricer.price(seconds);
    return { mode: 'reserved', seconds, amount, required: amount, final: false };
  }

  /** Postpaid accounts seen here, so that their next call asks the right way first (a bounded hint, never trusted). */
  private learnKind(accountId: number, account: Account | undefined): void {
    if (account?.kind === 'postpaid') {
      if (this.postpaid.size >= MAX_KIND_HINTS) this.postpaid.clear();
      this.postpaid.add(accountId);
    } else {
      this.postpaid.delete(accountId);
    }
  }

  /** The grant the account's state allows now, or why none. */
  private firstGrant(account: Account | undefined, pricer: CallPricer): Refusal | FirstGrant {
    const refusal = this.checkAccount(account, pricer);
    if (refusal) return refusal;
    const a = account!;
    const headroom = a.balance + a.creditLimit - a.reserved;
    // A slice shorter than the tariff's first billing step would refuse every call on it.
    const slice = Math.max(this.options.grantSeconds, pricer.firstStepSeconds);
    if (a.kind === 'postpaid') {
      const required = pricer.price(pricer.firstStepSeconds);
      if (headroom < required) return { code: 'CREDIT_LIMIT', reason: 'the account is at its credit limit' };
      return { mode: 'postpaid', seconds: slice, amount: 0n, required, final: false };
    }
    const seconds = Math.min(slice, headroom > 0n ? pricer.maxSeconds(headroom) : 0);
    if (seconds < Math.max(1, pricer.firstStepSeconds)) {
      return { code: 'INSUFFICIENT_FUNDS', reason: 'the available money does not buy the first billing step' };
    }
    const amount = pricer.price(seconds);
    return { mode: 'reserved', seconds, amount, required: amount, final: seconds < slice };
  }

  private checkAccount(account: Account | undefined, pricer: CallPricer): Refusal | undefined {
    if (!account) return { code: 'UNKNOWN_ACCOUNT', reason: 'no such account' };
    if (account.status === 'closed') return { code: 'CLOSED', reason: 'the account is closed' };
    if (account.status === 'suspended') return { code: 'SUSPENDED', reason: 'the account is suspended' };
    if (account.expiresAt && account.expiresAt <= this.clock()) return { code: 'EXPIRED', reason: 'the account has expired' };
    if (account.currency !== pricer.currency) {
      return { code: 'CURRENCY_MISMATCH', reason: `the account is in ${account.currency}, the tariff in ${pricer.currency}` };
    }
    if (account.maxCalls !== null && account.liveCalls >= account.maxCalls) {
      return { code: 'CALL_LIMIT', reason: `the account has ${account.liveCalls} of ${account.maxCalls} calls` };
    }
    return undefined;
  }

  private async authoriseReplayed(req: CallRequest, r: Reservation, step: ReservationStep | undefined): Promise<Authorisation> {
    if (r.accountId !== req.accountId) throw conflict(req.callId, 'authorised for another account');
    if (!step) throw new PrepaidError('ILLEGAL_STATE', `call ${req.callId} has no authorisation step`);
    if (r.state !== 'active') return { granted: true, grant: stepGrant(r, step, r.mode, true, false) };
    const a = (await this.store.getAccount(r.accountId))!;
    const lowBalance = a.lowBalanceThreshold !== null && a.balance + a.creditLimit - a.reserved < a.lowBalanceThreshold;
    return { granted: true, grant: this.track(req, r, step, lowBalance, true) };
  }

  private track(req: CallRequest, r: Reservation, step: ReservationStep, lowBalance: boolean, replay: boolean): Grant {
    const first = stepGrant(r, step, r.mode, replay, lowBalance);
    this.calls.set(req.callId, {
      callId: req.callId, accountId: req.accountId, reservationId: r.id, mode: r.mode, pricer: req.pricer,
      grantedSeconds: r.grantedSeconds, reserved: r.amount, answered: r.answeredAt !== null, extensions: 0,
      graceGranted: 0, first: { ...first, replay: false }, ...(req.maxSeconds !== undefined ? { maxSeconds: req.maxSeconds } : {}),
    });
    return first;
  }

  private authoriseOffline(req: CallRequest, err: unknown): Authorisation {
    if (this.options.failurePolicy.newCalls === 'refuse') {
      this.logger.warn('call refused: database unavailable', { callId: req.callId, error: String(err) });
      return { granted: false, refusal: { code: 'DB_UNAVAILABLE', reason: 'credit control cannot reach its database' } };
    }
    const seconds = this.options.grantSeconds;
    const grant: Grant = {
      callId: req.callId, accountId: req.accountId, reservationId: null, mode: 'offline', grantedSeconds: seconds,
      addedSeconds: seconds, reserved: 0n, final: true, finalCause: 'database_unavailable', replay: false, lowBalance: false,
    };
    this.calls.set(req.callId, {
      callId: req.callId, accountId: req.accountId, reservationId: null, mode: 'offline', pricer: req.pricer,
      grantedSeconds: seconds, reserved: 0n, answered: false, extensions: 0, graceGranted: 0, first: grant,
    });
    this.logger.warn('call admitted unreserved: database unavailable', { callId: req.callId, seconds });
    return { granted: true, grant };
  }

  // ---------------------------------------------------------------- answer

  /**
   * At 200 OK: re-price the granted seconds under the tariff bound to the answer time, setting aside
   * the difference or, when the money is not there, shortening the grant to what is reserved.
   * `recovery` (the call's SIP dialogs and rating) is stored with the answer, so that if this
   * instance dies the call can be settled to its real end.
   */
  async answer(callId: string, pricer: CallPricer, recovery?: RecoveryInfo): Promise<Grant> {
    const call = this.live(callId);
    if (call.answered && call.answerGrant) return { ...call.answerGrant, replay: true };
    if (pricer.currency !== call.pricer.currency) throw new PrepaidError('CURRENCY_MISMATCH', `call ${callId}: the answer tariff is in ${pricer.currency}`);
    call.pricer = pricer;
    call.answered = true;
    let grant: Grant;
    if (call.mode === 'offline') {
      grant = this.liveGrant(call, 0, call.first.finalCause, false);
    } else {
      try {
        grant = await this.reprice(call, pricer, this.storableRecovery(callId, recovery));
      } catch (err) {
        if (!isUnavailable(err)) throw err;
        // The money set aside at INVITE still backs the grant; settle prices under the answer tariff.
        this.logger.warn('answer not recorded: database unavailable', { callId });
        grant = this.liveGrant(call, 0, null, false);
      }
    }
    call.answerGrant = grant;
    return grant;
  }

  /** Recovery info as it can be stored, or undefined (logged) when it cannot. */
  private storableRecovery(callId: string, recovery: RecoveryInfo | undefined): RecoveryInfo | undefined {
    if (!recovery) return undefined;
    const wellFormed = Array.isArray(recovery.dialogs) && recovery.dialogs.every((d) => typeof d === 'string' && d !== '')
      && typeof recovery.rating === 'string';
    const size = wellFormed ? recovery.rating.length + recovery.dialogs.reduce((n, d) => n + d.length + 3, 0) : 0;
    if (!wellFormed || size > MAX_RECOVERY_CHARS) {
      this.logger.warn('recovery info not stored: a crash would settle the call at its checkpoint', { callId, wellFormed, size });
      return undefined;
    }
    return { dialogs: [...recovery.dialogs], rating: recovery.rating };
  }

  private async reprice(call: LiveCall, pricer: CallPricer, recovery: RecoveryInfo | undefined): Promise<Grant> {
    const at = this.clock();
    if (call.mode !== 'reserved' || pricer.price(call.grantedSeconds) === call.reserved) {
      // The usual case: the answer tariff prices the grant exactly as reserved. Nothing to move,
      // so one idempotent update records the answer (and its recovery info) instead of a step transaction.
      await this.store.markAnswered(call.callId, at, recovery);
      return this.liveGrant(call, 0, call.first.finalCause, false, call.first.lowBalance);
    }
    let shortOfMoney = false;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      let seconds = call.grantedSeconds;
      let target = call.mode === 'reserved' ? pricer.price(seconds) : 0n;
      let final = false;
      if (target > call.reserved && shortOfMoney) {
        // The difference was refused: keep what the money already reserved buys.
        const account = await this.store.getAccount(call.accountId);
        const available = account ? account.balance + account.creditLimit - account.reserved : 0n;
        seconds = Math.min(seconds, pricer.maxSeconds(call.reserved + (available > 0n ? available : 0n)));
        target = pricer.price(seconds);
        final = true;
      }
      const outcome = await this.store.applyStep({
        reservationId: call.reservationId!, callId: call.callId, accountId: call.accountId, stepKey: 'answer',
        requestedSeconds: call.grantedSeconds, expectedAmount: call.reserved, expectedSeconds: call.grantedSeconds - call.graceGranted, amountDelta: target - call.reserved,
        addedSeconds: seconds - call.grantedSeconds, final, answeredAt: at, recovery, at,
      });
      if (outcome.status === 'refused') shortOfMoney = true;
      const done = await this.afterStep(call, outcome);
      if (done) return done;
    }
    throw new PrepaidError('ILLEGAL_STATE', `call ${call.callId}: answer kept conflicting`);
  }

  /** Apply a step's outcome to the live call; undefined means try again. */
  private async afterStep(call: LiveCall, outcome: StepOutcome): Promise<Grant | undefined> {
    switch (outcome.status) {
      case 'applied': {
        call.grantedSeconds = outcome.step.grantedSeconds + call.graceGranted;
        call.reserved = outcome.step.reservedAfter;
        return this.liveGrant(call, outcome.step.addedSeconds, outcome.step.final ? 'credit_exhausted' : null, false, outcome.lowBalance);
      }
      case 'exists':
        return { ...stepGrant({ id: call.reservationId!, accountId: call.accountId, callId: call.callId }, outcome.step, call.mode, true, false) };
      case 'refused':
        return undefined;
      case 'stale': {
        const r = outcome.reservation;
        if (!r || r.state !== 'active') throw new PrepaidError('ILLEGAL_STATE', `call ${call.callId} is no longer active`, { state: r?.state });
        call.reserved = r.amount;
        call.grantedSeconds = r.grantedSeconds + call.graceGranted;
        return undefined;
      }
    }
  }

  // ---------------------------------------------------------------- extend

  /**
   * Before the grant ends: the next slice, a final partial grant, or nothing (addedSeconds 0, final).
   * `seq` numbers the extensions of a call from 1; it defaults to the next one. Replaying a seq
   * returns the first result.
   */
  async extend(callId: string, seq?: number): Promise<Grant> {
    const call = this.live(callId);
    if (!call.answered) throw new PrepaidError('ILLEGAL_STATE', `call ${callId} is not answered`);
    const n = seq ?? call.extensions + 1;
    if (!Number.isInteger(n) || n < 1) throw new PrepaidError('ILLEGAL_STATE', `extension number ${n} is invalid`);
    if (n <= call.extensions) {
      const step = call.mode === 'offline' ? undefined : await this.store.findStep(callId, `extend:${n}`);
      if (step) return stepGrant({ id: call.reservationId!, accountId: call.accountId, callId }, step, call.mode, true, false);
      // No step was stored for it: that extension was decided while the database was unreachable.
      return this.liveGrant(call, 0, 'database_unavailable', true);
    }
    if (n > call.extensions + 1) throw new PrepaidError('ILLEGAL_STATE', `call ${callId}: extension ${n} before ${call.extensions + 1}`);
    let grant: Grant;
    if (call.mode === 'offline') {
      grant = this.graceOrEnd(call);
    } else {
      try {
        grant = await this.reserveSlice(call, n);
      } catch (err) {
        if (!isUnavailable(err)) throw err;
        grant = this.graceOrEnd(call);
      }
    }
    call.extensions = n;
    this.logger.debug('call extended', { callId, added: grant.addedSeconds, granted: grant.grantedSeconds, final: grant.final });
    return grant;
  }

  private async reserveSlice(call: LiveCall, n: number): Promise<Grant> {
    const slice = this.options.grantSeconds;
    const at = this.clock();
    let shortOfMoney = false;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      let added = slice;
      let final = false;
      if (shortOfMoney && call.mode === 'reserved') {
        const account = await this.store.getAccount(call.accountId);
        const available = account ? account.balance + account.creditLimit - account.reserved : 0n;
        const total = call.pricer.maxSeconds(call.reserved + (available > 0n ? available : 0n));
        // Other calls kept taking the money between our read and our update: the last attempt
        // asks for nothing more, so the call ends with what it holds instead of failing.
        added = attempt === ATTEMPTS - 1 ? 0 : Math.max(0, Math.min(slice, total - call.grantedSeconds));
        final = true;
      }
      if (call.maxSeconds !== undefined && call.grantedSeconds + added >= call.maxSeconds) {
        added = Math.max(0, call.maxSeconds - call.grantedSeconds);
        final = true;
      }
      const amountDelta = call.mode === 'reserved' ? maxMoney(0n, call.pricer.price(call.grantedSeconds + added) - call.reserved) : 0n;
      const outcome = await this.store.applyStep({
        reservationId: call.reservationId!, callId: call.callId, accountId: call.accountId, stepKey: `extend:${n}`,
        requestedSeconds: slice, expectedAmount: call.reserved, expectedSeconds: call.grantedSeconds - call.graceGranted, amountDelta, addedSeconds: added, final, at,
      });
      if (outcome.status === 'refused') shortOfMoney = true;
      const done = await this.afterStep(call, outcome);
      if (done) return done;
    }
    throw new PrepaidError('ILLEGAL_STATE', `call ${call.callId}: extension kept conflicting`);
  }

  private graceOrEnd(call: LiveCall): Grant {
    const policy = this.options.failurePolicy;
    const left = policy.liveCalls === 'grace' ? policy.graceSeconds - call.graceGranted : 0;
    if (left <= 0) {
      this.logger.warn('no extension: database unavailable', { callId: call.callId });
      return this.liveGrant(call, 0, 'database_unavailable', false);
    }
    call.graceGranted += left;
    call.grantedSeconds += left;
    this.logger.warn('grace granted: database unavailable', { callId: call.callId, seconds: left });
    return this.liveGrant(call, left, 'database_unavailable', false);
  }

  // ---------------------------------------------------------------- checkpoint

  /** While the call lives: record the seconds metered so far, what a recovery would charge. */
  async checkpoint(callId: string, seconds: number): Promise<void> {
    const call = this.calls.get(callId);
    if (!call || !call.answered || call.reservationId === null) return;
    const billable = Math.min(Math.max(0, Math.floor(seconds)), call.grantedSeconds);
    try {
      await this.store.checkpoint(callId, billable, call.pricer.price(billable), this.clock());
    } catch (err) {
      if (!isUnavailable(err)) throw err;
      this.logger.debug('checkpoint skipped: database unavailable', { callId });
    }
  }

  // ---------------------------------------------------------------- settle / release

  /**
   * At the end of an answered call: charge the exact price of the billable seconds (one ledger
   * entry) and give back the rest of the reservation. With the database down the settlement is
   * journalled and replayed later. `pricer` is needed only when this instance does not know the
   * call (e.g. after a restart). `record` gives the call's record (CDR), which the store writes in
   * the same statement as the charge (`recorded` says it did), so that no crash separates them.
   */
  async settle(callId: string, billableSeconds: number, pricer?: CallPricer, record?: CallRecordOf): Promise<Settlement> {
    validateCallId(callId);
    if (!Number.isInteger(billableSeconds) || billableSeconds < 0) throw new PrepaidError('ILLEGAL_STATE', `billable seconds ${billableSeconds} must be a whole number >= 0`);
    const key = settleKey(callId);
    const journalled = this.journal.pending().find((r) => r.key === key);
    if (journalled) return journalledSettlement(journalled, billableSeconds);
    const call = this.calls.get(callId) ?? (pricer ? await this.adopt(callId, pricer) : undefined);
    if (!call) return this.settledBefore(callId, billableSeconds);
    let seconds = billableSeconds;
    if (seconds > call.grantedSeconds) {
      this.logger.warn('billable seconds beyond the grant: charging the grant', { callId, billableSeconds, granted: call.grantedSeconds });
      seconds = call.grantedSeconds;
    }
    if (!call.answered && seconds > 0) {
      // Known here from a replayed authorisation; it may have been answered and settled elsewhere.
      const r = await this.store.findReservation(callId);
      if (r && r.state !== 'active') return this.compareClosed(r, billableSeconds);
      throw new PrepaidError('ILLEGAL_STATE', `call ${callId} was never answered: release it`);
    }
    const charge = call.answered ? call.pricer.price(seconds) : 0n;
    try {
      const settlement = await this.chargeCall(call, seconds, charge, record);
      this.calls.delete(callId);
      this.logger.info('call settled', { callId, accountId: call.accountId, seconds, charged: moneyText(charge, call.pricer.currency) });
      return settlement;
    } catch (err) {
      if (isDecision(err)) throw err;
      await this.journal.append({
        kind: 'settle', key, callId, accountId: call.accountId, reservationId: call.reservationId, seconds,
        charge: charge.toString(), at: this.clock().toISOString(),
      });
      this.calls.delete(callId);
      this.logger.warn('settlement journalled: database unavailable', { callId, charged: moneyText(charge, call.pricer.currency), error: String(err) });
      return { callId, accountId: call.accountId, billableSeconds: seconds, charged: charge, returned: maxMoney(0n, call.reserved - charge), journalled: true, replay: false };
    }
  }

  private async chargeCall(call: LiveCall, seconds: number, charge: Micros, record?: CallRecordOf): Promise<Settlement> {
    const base = { callId: call.callId, accountId: call.accountId, billableSeconds: seconds, charged: charge, journalled: false };
    if (call.mode === 'offline') {
      if (charge > 0n) await this.postCallCharge(call.callId, call.accountId, charge, seconds);
      return { ...base, returned: 0n, replay: false };
    }
    const callRecord = record?.({ billableSeconds: seconds, charged: charge });
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const outcome = await this.store.closeReservation({
        reservationId: call.reservationId!, callId: call.callId, accountId: call.accountId, state: 'settled', seconds,
        charge, expectedAmount: call.reserved, ledgerKey: settleKey(call.callId), callRecord, at: this.clock(),
      });
      if (outcome.status === 'closed') {
        const settlement: Settlement = { ...base, returned: maxMoney(0n, call.reserved - charge), replay: false };
        if (callRecord !== undefined && outcome.recorded === true) settlement.recorded = true;
        return settlement;
      }
      const r = outcome.reservation;
      if (!r) throw new PrepaidError('UNKNOWN_CALL', `no reservation for call ${call.callId}`);
      if (r.state !== 'active') return this.compareClosed(r, seconds);
      call.reserved = r.amount;
    }
    throw new PrepaidError('ILLEGAL_STATE', `call ${call.callId}: settlement kept conflicting`);
  }

  private async postCallCharge(callId: string, accountId: number, charge: Micros, seconds: number): Promise<void> {
    const { entry, replay } = await this.store.postEntry({
      accountId, kind: 'charge', amount: -charge, idempotencyKey: settleKey(callId), callId,
      note: `${seconds} s`, guardAvailable: false, at: this.clock(),
    });
    if (replay && (entry.accountId !== accountId || entry.amount !== -charge)) throw conflict(callId, 'settled with another charge');
  }

  /** The call is unknown here: it may have been settled already (a replay) or never existed. */
  private async settledBefore(callId: string, seconds: number): Promise<Settlement> {
    const r = await this.store.findReservation(callId);
    if (r) {
      if (r.state === 'active') throw new PrepaidError('UNKNOWN_CALL', `call ${callId} is live elsewhere; settle it with its tariff`);
      return this.compareClosed(r, seconds);
    }
    const entry = await this.store.findEntry(settleKey(callId));
    if (entry && entry.callId === callId) {
      return { callId, accountId: entry.accountId, billableSeconds: seconds, charged: -entry.amount, returned: 0n, journalled: false, replay: true };
    }
    throw new PrepaidError('UNKNOWN_CALL', `no call ${callId}`);
  }

  private compareClosed(r: Reservation, seconds: number): Settlement {
    if (r.state === 'settled' && r.settledSeconds === seconds) {
      return { callId: r.callId, accountId: r.accountId, billableSeconds: seconds, charged: r.charged ?? 0n, returned: maxMoney(0n, r.amount - (r.charged ?? 0n)), journalled: false, replay: true };
    }
    throw conflict(r.callId, `already ${r.state} with ${r.settledSeconds ?? 0} s`);
  }

  /** Take over a call this instance does not know (after a restart), given its tariff. */
  private async adopt(callId: string, pricer: CallPricer): Promise<LiveCall | undefined> {
    const r = await this.store.findReservation(callId);
    if (!r || r.state !== 'active') return undefined;
    const call: LiveCall = {
      callId, accountId: r.accountId, reservationId: r.id, mode: r.mode, pricer, grantedSeconds: r.grantedSeconds,
      reserved: r.amount, answered: r.answeredAt !== null, extensions: 0, graceGranted: 0,
      first: stepGrant(r, undefined, r.mode, true, false),
    };
    return call;
  }

  /** A call that was never answered: give the whole reservation back, no charge. */
  async release(callId: string): Promise<void> {
    validateCallId(callId);
    const key = releaseKey(callId);
    if (this.journal.pending().some((r) => r.key === key)) return;
    const call = this.calls.get(callId);
    if (call?.answered) throw new PrepaidError('ILLEGAL_STATE', `call ${callId} was answered: settle it`);
    if (call?.mode === 'offline') { this.calls.delete(callId); return; }
    // A call metered here is released from what this instance knows of it, without reading it first.
    let r: Reservation | Pick<Reservation, 'id' | 'accountId' | 'amount' | 'state'> | undefined = call && call.reservationId !== null
      ? { id: call.reservationId, accountId: call.accountId, amount: call.reserved, state: 'active' }
      : undefined;
    try {
      r ??= await this.store.findReservation(callId);
      for (let attempt = 0; r && r.state === 'active' && attempt < ATTEMPTS; attempt++) {
        const outcome = await this.store.closeReservation({
          reservationId: r.id, callId, accountId: r.accountId, state: 'released', seconds: 0, charge: 0n,
          expectedAmount: r.amount, ledgerKey: key, at: this.clock(),
        });
        if (outcome.status === 'closed') { r = { ...r, state: 'released' }; break; }
        r = outcome.reservation;
      }
      if (r && r.state === 'active') throw new PrepaidError('ILLEGAL_STATE', `call ${callId}: release kept conflicting`);
      if (r && r.state !== 'released') throw conflict(callId, `already ${r.state}`);
      this.calls.delete(callId);
      this.logger.info('call released', { callId });
    } catch (err) {
      if (isDecision(err) || !call || call.reservationId === null) throw err;
      await this.journal.append({ kind: 'release', key, callId, accountId: call.accountId, reservationId: call.reservationId, at: this.clock().toISOString() });
      this.calls.delete(callId);
      this.logger.warn('release journalled: database unavailable', { callId, error: String(err) });
    }
  }

  // ---------------------------------------------------------------- journal and recovery

  /** Apply the journalled settlements, idempotently. Stops at the first database failure. */
  replayJournal(): Promise<JournalReplay> {
    if (!this.replaying) {
      this.replaying = this.replayAll().finally(() => { this.replaying = undefined; });
    }
    return this.replaying;
  }

  private async replayAll(): Promise<JournalReplay> {
    const result: JournalReplay = { applied: 0, remaining: 0, failed: 0 };
    for (const record of this.journal.pending()) {
      try {
        await this.applyRecord(record);
        await this.journal.markApplied(record.key);
        result.applied++;
      } catch (err) {
        if (isUnavailable(err)) break;
        result.failed++;
        this.logger.error('journalled settlement cannot be applied', { key: record.key, error: String(err) });
      }
    }
    result.remaining = this.journal.pending().length;
    if (result.applied > 0) this.logger.info('settlement journal replayed', { ...result });
    return result;
  }

  private async applyRecord(record: JournalRecord): Promise<void> {
    if (record.kind === 'settle' && record.reservationId === null) {
      const charge = BigInt(record.charge);
      if (charge > 0n) await this.postCallCharge(record.callId, record.accountId, charge, record.seconds);
      return;
    }
    const charge = record.kind === 'settle' ? BigInt(record.charge) : 0n;
    const seconds = record.kind === 'settle' ? record.seconds : 0;
    const state = record.kind === 'settle' ? 'settled' : 'released';
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const r = await this.store.findReservation(record.callId);
      if (!r) throw new PrepaidError('UNKNOWN_CALL', `no reservation for call ${record.callId}`);
      if (r.state !== 'active') return this.reconcileClosed(r, state, seconds, charge);
      const outcome = await this.store.closeReservation({
        reservationId: r.id, callId: r.callId, accountId: r.accountId, state, seconds, charge,
        expectedAmount: r.amount, ledgerKey: record.key, at: this.clock(),
      });
      if (outcome.status === 'closed') return;
    }
    throw new PrepaidError('ILLEGAL_STATE', `call ${record.callId}: journal replay kept conflicting`);
  }

  /**
   * The reservation was closed meanwhile: by this same record (nothing to do), or recovered at its
   * checkpoint by another instance, in which case the rest of the true charge is posted.
   */
  private async reconcileClosed(r: Reservation, state: 'settled' | 'released', seconds: number, charge: Micros): Promise<void> {
    if (r.state === state && r.settledSeconds === seconds && (r.charged ?? 0n) === charge) return;
    if (r.state === 'recovered' || (r.state === 'released' && state === 'settled')) {
      const rest = charge - (r.charged ?? 0n);
      if (rest > 0n) {
        await this.store.postEntry({
          accountId: r.accountId, kind: 'charge', amount: -rest, idempotencyKey: `call:${r.callId}:settle-rest`,
          callId: r.callId, note: `${seconds} s, after recovery at ${r.settledSeconds ?? 0} s`, guardAvailable: false, at: this.clock(),
        });
      }
      return;
    }
    throw conflict(r.callId, `already ${r.state}`);
  }

  /**
   * After a restart under the same instance id: reservations this id owns that this process does
   * not know are left from its previous life (journalled ones are settled by the replay first).
   * Some may wait for the SIP server; the pass is repeated at each heartbeat until none waits.
   */
  private async recoverOwnLeftovers(): Promise<RecoveryPass> {
    const pass: RecoveryPass = { recovered: 0, waiting: 0 };
    let afterId = 0;
    for (let page = 0; page < RECOVERY_PAGES; page++) {
      const listed = await this.store.listReservationsOwnedBy(this.options.instanceId, RECOVERY_PAGE, afterId);
      if (listed.length === 0) break;
      afterId = listed[listed.length - 1]!.id;
      const leftovers = listed.filter((r) => !this.calls.has(r.callId) && r.createdAt <= this.startedAt);
      addPass(pass, await this.recoverPage(leftovers));
      if (listed.length < RECOVERY_PAGE) break;
    }
    return pass;
  }

  /**
   * Settle the reservations of instances without a recent heartbeat (answered calls to their real
   * end, or their last checkpoint; unanswered ones released). Safe to run on several instances at once.
   */
  async recoverDeadInstances(staleAfterMs: number): Promise<number> {
    const aliveSince = new Date(this.clock().getTime() - staleAfterMs);
    let recovered = 0;
    let afterId = 0;
    for (let page = 0; page < RECOVERY_PAGES; page++) {
      const orphans = await this.store.listOrphanedReservations(this.options.instanceId, aliveSince, RECOVERY_PAGE, afterId);
      if (orphans.length === 0) break;
      afterId = orphans[orphans.length - 1]!.id;
      recovered += (await this.recoverPage(orphans)).recovered;
      if (orphans.length < RECOVERY_PAGE) break;
    }
    return recovered;
  }

  /** One page of orphans: one question to the SIP server for all their dialogs, then each settled. */
  private async recoverPage(page: Reservation[]): Promise<RecoveryPass> {
    const pass: RecoveryPass = { recovered: 0, waiting: 0 };
    if (page.length === 0) return pass;
    const ends = await this.askOrphanEnds(page);
    for (const r of page) {
      const outcome = await this.recoverReservation(r, ends);
      if (outcome === 'recovered') pass.recovered++;
      else if (outcome === 'waiting') pass.waiting++;
    }
    return pass;
  }

  private async askOrphanEnds(page: Reservation[]): Promise<OrphanEnds | undefined> {
    if (!this.orphanEnds) return undefined;
    const dialogs = [...new Set(page.filter((r) => isAnswered(r) && r.recovery).flatMap((r) => r.recovery!.dialogs))];
    if (dialogs.length === 0) return undefined;
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<OrphanEnds>((resolve) => {
      timer = setTimeout(() => {
        this.logger.warn('SIP server did not say when orphaned calls ended in time', { dialogs: dialogs.length, timeoutMs: ORPHAN_ENDS_TIMEOUT_MS });
        resolve({ status: 'retry' });
      }, ORPHAN_ENDS_TIMEOUT_MS);
    });
    try {
      return await Promise.race([this.orphanEnds(dialogs), timeout]);
    } catch (err) {
      this.logger.warn('SIP server not asked when orphaned calls ended', { dialogs: dialogs.length, error: String(err) });
      return { status: 'retry' };
    } finally {
      clearTimeout(timer);
    }
  }

  /** Settle, release or leave for a later pass one reservation of a lost instance. */
  private async recoverReservation(r: Reservation, ends: OrphanEnds | undefined): Promise<'recovered' | 'waiting' | 'gone'> {
    const answered = isAnswered(r);
    let seconds = 0;
    let charge = 0n;
    let endAt: Date | null = null;
    let why = 'never answered';
    if (answered) {
      const verdict = this.orphanVerdict(r, ends);
      if (verdict.kind === 'wait') {
        this.logger.debug('orphaned call left for a later recovery pass', { callId: r.callId, why: verdict.why });
        return 'waiting';
      }
      seconds = r.checkpointSeconds;
      charge = r.checkpointAmount;
      why = verdict.kind === 'checkpoint' ? verdict.why : 'real end';
      if (verdict.kind === 'real-end') {
        const priced = this.priceToRealEnd(r, verdict.endAt);
        if ('why' in priced) {
          why = priced.why;
        } else {
          ({ seconds, charge } = priced);
          endAt = verdict.endAt;
        }
      }
    }
    const basis = !answered ? 'released' : endAt ? 'real end' : 'checkpoint';
    const outcome = await this.store.closeReservation({
      reservationId: r.id, callId: r.callId, accountId: r.accountId, state: answered ? 'recovered' : 'released',
      seconds, charge, expectedAmount: r.amount, ledgerKey: settleKey(r.callId),
      note: `${seconds} s (recovered ${endAt ? 'to its real end' : 'at checkpoint'})`, at: this.clock(),
    });
    if (outcome.status !== 'closed') return 'gone';
    if (this.onRecovered) {
      await this.onRecovered({ reservation: r, answered, billableSeconds: seconds, charged: charge, ledgerKey: answered ? settleKey(r.callId) : null, endAt })
        .catch((err: unknown) => this.logger.error('recovered call not reported', { callId: r.callId, error: String(err) }));
    }
    this.logger.warn('reservation of a dead instance recovered', {
      callId: r.callId, owner: r.ownerInstance, basis, why, seconds, charged: formatMoney(charge), endAt: endAt?.toISOString(),
    });
    return 'recovered';
  }

  /** Settle an answered orphan to its real end, at its checkpoint, or not yet. */
  private orphanVerdict(r: Reservation, ends: OrphanEnds | undefined): OrphanVerdict {
    if (!r.recovery) return { kind: 'checkpoint', why: 'no recovery info stored with the answer' };
    if (!this.orphanEnds || !this.repricer) return { kind: 'checkpoint', why: 'no SIP server or repricer to settle to the real end' };
    if (!r.answeredAt) return { kind: 'checkpoint', why: 'no answer time' };
    if (r.recovery.dialogs.length === 0) return { kind: 'checkpoint', why: 'no SIP dialogs recorded' };
    if (!ends) return this.waitOrFallBack(r, 'the SIP server was not asked');
    switch (ends.status) {
      case 'unknown':
        return { kind: 'checkpoint', why: 'the SIP server cannot tell when orphaned calls ended' };
      case 'retry':
        return this.waitOrFallBack(r, 'the SIP server is not connected');
      case 'known': {
        let earliest: Date | undefined;
        let up = false;
        for (const dialog of r.recovery.dialogs) {
          if (!ends.ends.has(dialog)) continue;
          const end = ends.ends.get(dialog);
          if (end === null || end === undefined) up = true;
          // An end that is not a time is as good as none.
          else if (!(end instanceof Date) || Number.isNaN(end.getTime())) continue;
          else if (!earliest || end < earliest) earliest = end;
        }
        // The first leg to end ends the call.
        if (earliest) return { kind: 'real-end', endAt: earliest };
        if (up) return this.waitOrFallBack(r, 'the call is still up on the SIP server');
        return { kind: 'checkpoint', why: 'the SIP server does not know its dialogs' };
      }
    }
  }

  /** Waits are bounded: after liveOrphanWaitMs since its last checkpoint the call settles there. */
  private waitOrFallBack(r: Reservation, why: string): OrphanVerdict {
    const since = r.checkpointAt ?? r.answeredAt ?? r.updatedAt;
    const waited = this.clock().getTime() - since.getTime();
    if (waited < (this.options.liveOrphanWaitMs ?? LIVE_ORPHAN_WAIT_MS)) return { kind: 'wait', why };
    return { kind: 'checkpoint', why: `${why} ${Math.round(waited / 1000)} s after the last checkpoint` };
  }

  /**
   * The seconds from answer to the real end, never fewer than the checkpoint nor more than the
   * grant, priced by the call's own tariff; the charge never below the checkpoint's nor above the
   * money reserved.
   */
  private priceToRealEnd(r: Reservation, endAt: Date): { seconds: number; charge: Micros } | { why: string } {
    const elapsed = Math.ceil((endAt.getTime() - r.answeredAt!.getTime()) / 1000);
    const seconds = Math.min(Math.max(elapsed, r.checkpointSeconds), r.grantedSeconds);
    let price: unknown;
    try {
      price = this.repricer!(r.recovery!.rating, r.answeredAt!).price(seconds);
    } catch (err) {
      return { why: `the call cannot be priced again: ${String(err)}` };
    }
    if (typeof price !== 'bigint' || price < 0n) return { why: `the call's tariff priced ${String(price)}` };
    let charge = price;
    // Postpaid reservations hold no money: their charge is not capped by it.
    if (r.mode === 'reserved' && charge > r.amount) charge = r.amount;
    if (charge < r.checkpointAmount) charge = r.checkpointAmount;
    return { seconds, charge };
  }

  // ---------------------------------------------------------------- helpers

  private live(callId: string): LiveCall {
    validateCallId(callId);
    const call = this.calls.get(callId);
    if (!call) throw new PrepaidError('UNKNOWN_CALL', `call ${callId} is not authorised here`);
    return call;
  }

  /** `finalCause` null: more may be granted; else the grant is final for that reason. */
  private liveGrant(call: LiveCall, added: number, finalCause: FinalCause | null, replay: boolean, lowBalance = false): Grant {
    return {
      callId: call.callId, accountId: call.accountId, reservationId: call.reservationId, mode: call.mode,
      grantedSeconds: call.grantedSeconds, addedSeconds: added, reserved: call.reserved, final: finalCause !== null,
      finalCause, replay, lowBalance,
    };
  }
}

export interface JournalReplay {
  applied: number;
  remaining: number;
  failed: number;
}

interface RecoveryPass {
  recovered: number;
  /** Answered orphans left for a later pass (still up on the SIP server, or the server not reachable). */
  waiting: number;
}

function addPass(into: RecoveryPass, pass: RecoveryPass): void {
  into.recovered += pass.recovered;
  into.waiting += pass.waiting;
}

function isAnswered(r: Reservation): boolean {
  return r.answeredAt !== null || r.checkpointSeconds > 0;
}

/** Open the file journal under `journalDir` and build a CreditControl on it. */
export async function openCreditControl(
  deps: Omit<CreditControlDeps, 'journal'> & { journalDir: string },
  options: CreditControlOptions,
): Promise<CreditControl> {
  const journal = await FileSettlementJournal.open(deps.journalDir);
  for (const line of journal.unreadable) deps.logger?.error('unreadable settlement journal line skipped', { file: journal.file, line });
  return new CreditControl({ ...deps, journal }, options);
}

/** A first grant no longer than a per-call cap allows: shortened and final when the cap binds. */
function capGrant(decision: Refusal | FirstGrant, maxSeconds: number | undefined, pricer: CallPricer): Refusal | FirstGrant {
  if ('code' in decision || maxSeconds === undefined || decision.seconds <= maxSeconds) return decision;
  if (maxSeconds < Math.max(1, pricer.firstStepSeconds)) return { code: 'CREDIT_LIMIT', reason: 'the per-call cap does not buy the first billing step' };
  const amount = decision.mode === 'reserved' ? pricer.price(maxSeconds) : 0n;
  return { ...decision, seconds: maxSeconds, amount, required: decision.mode === 'reserved' ? amount : decision.required, final: true };
}

export function settleKey(callId: string): string {
  return `call:${callId}:settle`;
}

function releaseKey(callId: string): string {
  return `call:${callId}:release`;
}

function validateCallId(callId: string): void {
  // The longest ledger key built from it must fit the key column.
  if (typeof callId !== 'string' || callId === '' || callId.length > MAX_KEY_LENGTH - 20) {
    throw new PrepaidError('ILLEGAL_STATE', `call id must be 1..${MAX_KEY_LENGTH - 20} characters`);
  }
}

function conflict(callId: string, what: string): PrepaidError {
  return new PrepaidError('IDEMPOTENCY_CONFLICT', `call ${callId}: ${what}`, { callId });
}

function stepGrant(
  r: Pick<Reservation, 'id' | 'accountId' | 'callId'>, step: ReservationStep | undefined, mode: GrantMode, replay: boolean, lowBalance: boolean,
): Grant {
  return {
    callId: r.callId, accountId: r.accountId, reservationId: r.id, mode,
    grantedSeconds: step?.grantedSeconds ?? 0, addedSeconds: step?.addedSeconds ?? 0, reserved: step?.reservedAfter ?? 0n,
    // A stored step is final only when the money ran short (outages store no step).
    final: step?.final ?? false, finalCause: step?.final ? 'credit_exhausted' : null, replay, lowBalance,
  };
}

function journalledSettlement(record: JournalRecord, seconds: number): Settlement {
  if (record.kind !== 'settle' || record.seconds !== seconds) throw conflict(record.callId, 'journalled with other content');
  return { callId: record.callId, accountId: record.accountId, billableSeconds: seconds, charged: BigInt(record.charge), returned: 0n, journalled: true, replay: true };
}

function maxMoney(a: Micros, b: Micros): Micros {
  return a > b ? a : b;
}
