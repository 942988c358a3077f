import type { ClientTransaction } from '../transaction/client-transaction';
import type { Endpoint } from '../transport/transport';
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
  routeSet: string[] = [];
  localSdp: Buffer | null = null;
  localContentType: string | null = null;
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

  constructor(
    readonly id: string,
    readonly role: DialogRole,
    readonly callId: string,
    readonly localTag: string,
    readonly remoteTag: string,
    public localParty: string,    // From (uac) or To (uas) value with our tag
    public remoteParty: string,   // the peer's value with its tag
    public remoteTarget: string,
    public target: Endpoint,
    public localContact: string,
    public owner: Owner | null,
    initialLocalSeq: number,
    initialRemoteSeq: number,
    readonly inviteTxId: string,
  ) {
    this.localSeq = initialLocalSeq;
    this.remoteSeq = initialRemoteSeq;
  }

  get lookupKey(): string { return dialogLookupKey(this.callId, this.localTag, this.remoteTag); }
}

export function dialogLookupKey(callId: string, localTag: string, remoteTag: string): string {
  return `${callId}\u0000${localTag}\u0000${remoteTag}`;
}
