import type { SipMessage } from '../message/message';
import type { Dialog } from './dialog';

export interface SessionTimerOptions { enabled: boolean; interval: number; minSE: number; refresher: 'uac' | 'uas' }

export interface SessionTimerHooks {
  /** Our side refreshes: time to send the refreshing re-INVITE. */
  refresh(d: Dialog): void;
  /** The peer refreshes and did not: the call is to be ended. */
  expired(d: Dialog): void;
}

/**
 * RFC 4028 session timers of the edge's dialogs: each refresh (a request or response with
 * Session-Expires) re-arms the dialog's timer; the refresher refreshes at half the interval, the
 * other side gives up at the interval less min(32 s, interval/3) (§10).
 */
export class SessionTimers {
  constructor(private readonly hooks: SessionTimerHooks) {}

  /** Reads Session-Expires from a request or response and (re)arms the dialog's timer. */
  update(d: Dialog, msg: SipMessage, kind: 'incoming' | 'response' | 'sent'): void {
    const se = msg.get('session-expires');
    if (!se) {
      if (d.sessionTimer) this.arm(d);
      return;
    }
    const interval = Number(se.split(';')[0]);
    if (!Number.isFinite(interval) || interval <= 0) return;
    const refresherParam = /refresher\s*=\s*(uac|uas)/i.exec(se)?.[1]?.toLowerCase() ?? null;
    // the UAC of the transaction carrying the header: us when we sent the request
    let weRefresh: boolean;
    if (kind === 'incoming') weRefresh = refresherParam === 'uas';
    else if (kind === 'response') weRefresh = refresherParam === null || refresherParam === 'uac';
    else weRefresh = refresherParam === 'uas';
    d.sessionTimer = { interval, weRefresh, timer: d.sessionTimer?.timer ?? null };
    if (d.confirmed || d.role === 'uac' || kind !== 'sent') this.arm(d);
  }

  arm(d: Dialog, overrideSeconds?: number): void {
    const st = d.sessionTimer;
    if (!st || d.terminated) return;
    if (st.timer) clearTimeout(st.timer);
    const seconds = overrideSeconds ?? (st.weRefresh ? st.interval / 2 : st.interval - Math.min(32, st.interval / 3));
    st.timer = setTimeout(() => {
      st.timer = null;
      if (d.terminated) return;
      if (st.weRefresh) this.hooks.refresh(d);
      else this.hooks.expired(d);
    }, seconds * 1000);
  }
}

/** Session-Expires for the 200 to an initial INVITE, unless the application's 200 has one. */
export function negotiateSessionExpires(st: SessionTimerOptions, req: SipMessage, res: SipMessage): void {
  if (res.has('session-expires')) return;
  const reqSe = req.get('session-expires');
  if (!st.enabled && !(reqSe && /refresher/i.test(reqSe))) return;
  const supported = req.getAll('supported').some((s) => s.toLowerCase() === 'timer');
  let interval = st.interval;
  let refresher: 'uac' | 'uas' = supported ? st.refresher : 'uas';
  if (reqSe) {
    interval = Math.max(st.minSE, Number(reqSe.split(';')[0]) || st.interval);
    const r = /refresher\s*=\s*(uac|uas)/i.exec(reqSe)?.[1]?.toLowerCase();
    if (r === 'uac' || r === 'uas') refresher = r;
  }
  res.append('session-expires', `${interval};refresher=${refresher}`);
  if (refresher === 'uac' && supported) res.append('require', 'timer');
}

/** The 200 to a re-INVITE refreshing a timed session echoes its Session-Expires. */
export function reinviteSessionExpires(d: Dialog, req: SipMessage, res: SipMessage): void {
  if (!d.sessionTimer || res.has('session-expires')) return;
  const se = req.get('session-expires');
  if (se) res.append('session-expires', se.includes('refresher') ? se : `${se};refresher=uac`);
}
