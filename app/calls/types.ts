import type Srf from 'drachtio-srf';
import type { Logger } from '../../lib/common/logger';
import type { CallQuote, ServiceAttributes } from '../../lib/rating';
import type { Grant } from '../../lib/prepaid';
import type { CallResolution, Trunk, TrunkTarget } from '../../lib/vpn';

/** A refusal of a call during admission: a SIP status, a Reason and a code for CDRs and metrics. */
export class CallRejection extends Error {
  constructor(readonly status: number, readonly code: string, readonly reason: string, readonly headers?: Record<string, string>) {
    super(`${status} ${code}: ${reason}`);
    this.name = 'CallRejection';
  }
}

/** What admission learns about a call, step by step; each step fills its part. */
export interface AdmissionContext {
  /** Our id of the call (idempotency keys, CDR); not the SIP Call-ID. */
  readonly callId: string;
  readonly sipCallId: string;
  readonly inviteAt: Date;
  readonly req: Srf.SrfRequest;
  readonly logger: Logger;
  /** As received: the user part or number of the caller and of the Request-URI. */
  callerDialled?: string;
  calleeDialled?: string;
  ingressTrunk?: Trunk;
  /** The caller URI believed: a trusted P-Asserted-Identity, else From. */
  callerUri?: string;
  resolution?: CallResolution;
  routes?: TrunkTarget[];
  quote?: CallQuote;
  /** Further accounts that hold the call's money with the payer's (a member's cap accounts under a group pool). */
  extraHolds?: number[];
  /** The most seconds the call may last (a member's per-call cap). */
  maxSeconds?: number;
  grant?: Grant;
}

/** An admitted call: every step has filled its part. */
export type AdmittedCall = AdmissionContext & Required<Pick<AdmissionContext, 'ingressTrunk' | 'callerUri' | 'resolution' | 'routes' | 'quote' | 'grant'>>;

export type AdmissionStep = (call: AdmissionContext) => void | Promise<void>;

/**
 * The call as stored with its reservation at answer (RecoveryInfo.rating, opaque to credit
 * control): the rating attributes to price it again, and the CDR fields a recovering instance
 * cannot know otherwise.
 */
export interface StoredCallRecord {
  attributes: ServiceAttributes;
  cdr?: {
    sipCallId: string; inviteAt: string; callerDialled: string | null; callerE164: string | null; calleeDialled: string | null;
    calleeE164: string | null; presentedCaller: string | null; scope: string | null; service: string | null; vpnGroup: string | null;
    ingressTrunk: string | null; egressTrunk: string | null; ruleId: number | null; tariffId: number | null; currency: string | null;
  };
}
