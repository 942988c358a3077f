import { SipMessage } from './message';
import { tagOf } from './uri';

/** A response built from a request (§8.2.6): Via, From, To, Call-ID, CSeq copied. */
export function responseFor(req: SipMessage, status: number, reason: string, toTag: string | null): SipMessage {
  const res = SipMessage.response(status, reason);
  for (const v of req.getAll('via')) res.append('via', v);
  // a refused request may lack some of these (RFC 4475 §3.3.1): copy what is there
  const from = req.get('from');
  if (from !== undefined) res.append('from', from);
  const to = req.get('to');
  if (to !== undefined) res.append('to', toTag && !tagOf(to) ? `${to};tag=${toTag}` : to);
  const callId = req.get('call-id');
  if (callId !== undefined) res.append('call-id', callId);
  res.append('cseq', req.get('cseq') as string);
  return res;
}

/** The URI of a name-addr or addr-spec header value (Contact, Route, From). */
export function uriOf(value: string): string {
  const t = value.trim();
  if (t.includes('<')) return t.slice(t.indexOf('<') + 1, t.indexOf('>'));
  return t.split(';')[0];
}
