import type Srf from 'drachtio-srf';

/**
 * What an answered call keeps of its set-up. drachtio-srf's Dialog holds the Request and Response
 * that made it; they hold the whole SIP messages (raw text, every header, body, parsed headers)
 * and, through their listeners, createB2BUA's closures. Worse, the strings the Dialog keeps (tags,
 * URIs, SDP) are V8 slices of the raw messages, so even one of them keeps a whole message alive:
 * about 4 messages and 45 slices per call, most of the application's memory per live call.
 *
 * Once the call is answered, a Dialog reads only this of its Request and Response (drachtio-srf
 * lib/dialog.js): `req.method` (dialogType), `req.socket` (every in-dialog request goes out on
 * it), `req.get('Event')` (SUBSCRIBE dialogs only) and `res.stackDialogId` (its id). `agent` is
 * copied at construction. compactDialog swaps both for stand-ins with just that, copies the
 * strings of `sip`, `local` and `remote` out of the messages they were cut from, and keys the
 * dialog in Srf's map of dialogs by its copied id.
 */
export function compactDialog(dialog: Srf.Dialog): void {
  const d = dialog as unknown as DialogInternals;
  // Only a drachtio-srf Dialog made by a call; anything else (or one already compacted) is left as it is.
  if (!d.req || !d.res || !d.sip || !d.local || !d.remote || d.req[COMPACT]) return;
  const req = d.req as unknown as { method: string; socket: unknown; get(name: string): string | undefined };
  const res = d.res as unknown as { stackDialogId: string; agent: unknown };
  const event = req.method === 'SUBSCRIBE' ? own(req.get('Event')) : undefined;
  d.req = {
    [COMPACT]: true,
    method: own(req.method)!,
    socket: req.socket,
    get: (name: string) => (name.toLowerCase() === 'event' ? event : undefined),
  };
  const id = own(res.stackDialogId);
  d.res = { [COMPACT]: true, stackDialogId: id, agent: res.agent };
  // Srf finds a dialog by its id in a Map whose key is the original slice: keyed again by the copy.
  const dialogs = d.srf?._dialogs;
  if (dialogs instanceof Map && dialogs.get(id) === dialog) {
    dialogs.delete(id);
    dialogs.set(id, dialog);
  }
  d.sip = { callId: own(d.sip.callId), localTag: own(d.sip.localTag), remoteTag: own(d.sip.remoteTag) };
  d.local = { uri: own(d.local.uri), sdp: own(d.local.sdp), contact: own(d.local.contact) };
  d.remote = { uri: own(d.remote.uri), sdp: own(d.remote.sdp) };
}

const COMPACT = Symbol('compact');

interface DialogInternals {
  srf?: { _dialogs?: unknown };
  req: { [COMPACT]?: true } & Record<string, unknown>;
  res: { [COMPACT]?: true } & Record<string, unknown>;
  sip: { callId?: string; localTag?: string; remoteTag?: string };
  local: { uri?: string; sdp?: string; contact?: string };
  remote: { uri?: string; sdp?: string };
}

/**
 * A copy of `s` that does not point into the string it was cut from. A V8 substring of 13 or more
 * characters is a slice that keeps its whole parent alive; a concatenation, flattened by the slice
 * that follows, is a fresh string of its own length.
 */
export function own<T extends string | undefined>(s: T): T {
  return (typeof s === 'string' ? (' ' + s).slice(1) : s) as T;
}
