import { randomUUID } from 'node:crypto';
import type { SipMessage } from '../message/message';
import type { Endpoint } from '../transport/transport';
import type { AppConnection, SipCommand } from './control-server';

/** The last time stamp written, and its millisecond: many messages go out in one. */
let stamped = { ms: -1, text: '' };

/** drachtio-server's time stamp in message leaders: `HH:MM:SS.mmm000` (UTC). */
export function stackTime(now = Date.now()): string {
  if (now === stamped.ms) return stamped.text;
  const d = new Date(now);
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  const text = `${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}000`;
  stamped = { ms: now, text };
  return text;
}

/**
 * The control-link side of the core: which application gets a new request (round-robin per
 * method among those that routed it), the leaders drachtio-srf reads at fixed positions, the
 * `Msg sent:` echoes, and `cdr:*` events.
 */
export class AppBridge {
  private rr = new Map<string, number>();

  constructor(private readonly connections: () => Iterable<AppConnection>, private readonly cdrEvents: boolean) {}

  /** `<uuid>|sip|<source>|<bytes>|<transport>|<address>|<port>|<time>|<txId>|<dialogId>|<extra>` */
  leader(source: 'network' | 'application', bytes: number, ep: Endpoint, txId: string, dialogId: string, extra = ''): string {
    return `${randomUUID()}|sip|${source}|${bytes}|${ep.transport}|${ep.address}|${ep.port}|${stackTime()}|${txId}|${dialogId}|${extra}`;
  }

  send(conn: AppConnection | null, leader: string, msgText: string): void {
    if (!conn || conn.closed) return;
    conn.send(`${leader}\r\n${msgText}`);
  }

  /** The answer to the application's `sip` command: what went out, where. */
  echo(cmd: SipCommand, bytes: Buffer, target: Endpoint, txId: string, dialogPart: string): void {
    cmd.conn.respond(cmd.msgId, 'OK', 'application', String(bytes.length), target.transport, target.address,
      String(target.port), stackTime(), txId, `${dialogPart}Msg sent:|\r\n${bytes.toString('utf8')}`);
  }

  pick(method: string): AppConnection | null {
    const candidates: AppConnection[] = [];
    for (const c of this.connections()) if (c.authenticated && !c.closed && c.routes.has(method)) candidates.push(c);
    if (candidates.length === 0) return null;
    const i = (this.rr.get(method) ?? 0) % candidates.length;
    this.rr.set(method, i + 1);
    return candidates[i];
  }

  cdr(event: 'attempt' | 'start' | 'stop', source: 'network' | 'application', msg: SipMessage, extra?: string): void {
    if (!this.cdrEvents) return;
    const conn = this.pick(`cdr:${event}`);
    if (!conn) return;
    const leader = `${randomUUID()}|cdr:${event}|${source}|${stackTime()}${extra !== undefined ? `|${extra}` : ''}`;
    conn.send(`${leader}\r\n${msg.toString()}`);
  }
}
