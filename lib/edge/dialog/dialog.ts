import type { ClientTransaction } from '../transaction/client-transaction';
import type { Endpoint } from '../transport/transport';
import { ownedString } from '../message/message';
import { TimerSet } from '../transaction/timers';

export type DialogRole = 'uas' | 'uac';

export interface SessionTimerState {
  interval: number;        // seconds
  weRefresh: boolean;
  timer: NodeJS.Timeout | null;
}

/**
 * One INVITE dialog as the edge keeps it (RFC 3261 §12). The id is formed as drachtio-server
 * forms it: `<Call-ID>;from-tag=<the UAC's From tag>`. `Owner` is the application connection
 * the control layer hands its requests to.
 */
export class Dialog<Owner = unknown> {
  localSeq: number;
  remoteSeq: number;
  private routes: string[] = [];
  private remoteTargetValue: string;
  private endpoint: Endpoint;
  readonly id: string;
  /** The initial INVITE's transaction id (the application's or the edge's). */
  readonly inviteTxId: string;
  readonly callId: string;
  readonly localTag: string;
  readonly remoteTag: string;
  /** From (uac) or To (uas) value with our tag. */
  readonly localParty: string;
  /** The peer's value with its tag. */
  readonly remoteParty: string;
  readonly localContact: string;
  localSdp: Buffer | null = null;
  private contentType: string | null = null;
  /** True once the 2xx to the initial INVITE is acknowledged (UAS) or sent our ACK (UAC). */
  confirmed = false;
  terminated = false;
  /** UAS: a 2xx being retransmitted until its ACK, with the INVITE's CSeq and transaction id. */
  pending2xx: { cseq: number; bytes: Buffer; txId: string } | null = null;
  /** UAC: the 2xx awaiting the application's ACK, and the ACK sent (resent on 2xx retransmissions). */
  awaitingAck: { cseq: number; txId: string } | null = null;
  lastAck: Buffer | null = null;
  incomingInvite: string | null = null;          // server transaction id of a pending re-INVITE
  outgoingInvite: ClientTransaction | null = null;
  sessionTimer: SessionTimerState | null = null;
  /** UAC: the CSeq number of the initial INVITE, whose 2xx from other forks the edge ends. */
  inviteSeq = 0;
  /** A CANCEL crossed the 200: acknowledge, then end the call. */
  ackThenBye = false;
  readonly timers = new TimerSet();

  /** Strings are copied (ownedString): a dialog outlives the messages it is made from. */
  constructor(
    id: string,
    readonly role: DialogRole,
    callId: string,
    localTag: string,
    remoteTag: string,
    localParty: string,
    remoteParty: string,
    remoteTarget: string,
    target: Endpoint,
    localContact: string,
    public owner: Owner | null,
    initialLocalSeq: number,
    initialRemoteSeq: number,
    inviteTxId: string,
  ) {
    this.inviteTxId = ownedString(inviteTxId);
    this.id = ownedString(id);
    this.callId = ownedString(callId);
    this.localTag = ownedString(localTag);
    this.remoteTag = ownedString(remoteTag);
    this.localParty = ownedString(localParty);
    this.remoteParty = ownedString(remoteParty);
    this.remoteTargetValue = ownedString(remoteTarget);
    this.endpoint = { ...target, address: ownedString(target.address) };
    this.localContact = ownedString(localContact);
    this.localSeq = initialLocalSeq;
    this.remoteSeq = initialRemoteSeq;
  }

  /** The peer's Contact (§12.1): where in-dialog requests go. */
  get remoteTarget(): string { return this.remoteTargetValue; }
  set remoteTarget(v: string) { this.remoteTargetValue = ownedString(v); }
  get routeSet(): string[] { return this.routes; }
  set routeSet(v: string[]) { this.routes = v.map(ownedString); }
  get target(): Endpoint { return this.endpoint; }
  /** Content-Type of the last SDP we sent (for session refreshes). */
  get localContentType(): string | null { return this.contentType; }
  set localContentType(v: string | null) { this.contentType = v === null ? null : ownedString(v); }

  get lookupKey(): string { return dialogLookupKey(this.callId, this.localTag, this.remoteTag); }
}

export function dialogLookupKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\u0000${localTag}\u0000${remoteTag}`;
}
