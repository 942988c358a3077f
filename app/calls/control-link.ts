import type Srf from 'drachtio-srf';
import type { Socket } from 'node:net';
import { batchSocketWrites, WriteBatcher } from '../../lib/common/write-batch';

/**
 * What the application asks of the SIP server beyond drachtio-srf's own API, over the same
 * control connection: in-dialog requests on the current connection (a Dialog object keeps the
 * socket it was made on, which is dead after a reconnect), and the edge's record of when the calls
 * of a lost connection really ended (`tollgate:orphans`, lib/edge/README.md). drachtio-srf's
 * internals are touched here and nowhere else.
 */
interface PendingServer { pendingRequests: Map<string, (tokens: string[], raw?: string) => void> }
interface Agent {
  wp: { send(socket: Socket, msg: string): string };
  mapServer: Map<Socket, PendingServer>;
  _getDefaultSocket(): Socket | undefined;
  request(options: { method: string; stackDialogId: string; headers?: Record<string, string> }, cb: (err: Error | null) => void): void;
}

/** When each dialog of a lost connection ended, as the SIP server recorded it. */
export type DialogEnds =
  | { status: 'known'; ends: Map<string, Date | null> }
  /** The server cannot tell (a drachtio-server, or an edge that restarted and forgot). */
  | { status: 'unknown' }
  /** Not connected now: ask again later. */
  | { status: 'retry' };

export type InDialogOutcome = 'sent' | 'no-dialog' | 'failed';

export class ControlLink {
  private serverVersion: string | null = null;
  /** drachtio-srf writes each control message on its own; those of one loop turn go out in one write. */
  private readonly batcher = new WriteBatcher();

  constructor(private readonly srf: Srf, private readonly timeoutMs = 3000) {}

  private get agent(): Agent | undefined {
    return (this.srf as unknown as { _app?: { client?: Agent } })._app?.client;
  }

  /** Called with the version the server gave at authentication (drachtio-srf's 'connect'). */
  connected(serverVersion: string | undefined | null): void {
    this.serverVersion = serverVersion ?? null;
    const socket = this.socket();
    if (socket) batchSocketWrites(socket, this.batcher);
  }
  disconnected(): void { this.serverVersion = null; }

  /** The edge keeps and answers orphan records; a drachtio-server would drop the connection on the command. */
  get serverRecordsOrphans(): boolean { return /tollgate-edge/.test(this.serverVersion ?? ''); }

  private socket(): Socket | undefined {
    const s = this.agent?._getDefaultSocket();
    return s && !s.destroyed ? s : undefined;
  }

  async dialogEnds(dialogIds: string[]): Promise<DialogEnds> {
    const agent = this.agent;
    const socket = this.socket();
    if (!agent || !socket || this.serverVersion === null) return { status: 'retry' };
    if (!this.serverRecordsOrphans) return { status: 'unknown' };
    const server = agent.mapServer.get(socket);
    if (!server) return { status: 'retry' };
    const raw = await new Promise<string | undefined>((resolve) => {
      const msgId = agent.wp.send(socket, `tollgate:orphans\r\n${dialogIds.join('\n')}`);
      const timer = setTimeout(() => { server.pendingRequests.delete(msgId); resolve(undefined); }, this.timeoutMs);
      server.pendingRequests.set(msgId, (tokens, body) => {
        clearTimeout(timer);
        resolve(tokens[0] === 'OK' ? body ?? '' : undefined);
      });
    });
    if (raw === undefined) return { status: 'retry' };
    try {
      const parsed = JSON.parse(raw) as { dialogs?: Record<string, { endedAt: number | null }> };
      const ends = new Map<string, Date | null>();
      for (const [id, rec] of Object.entries(parsed.dialogs ?? {})) ends.set(id, typeof rec.endedAt === 'number' ? new Date(rec.endedAt) : null);
      return { status: 'known', ends };
    } catch {
      return { status: 'unknown' };
    }
  }

  /** An in-dialog request by dialog id on the connection that is up now. */
  async requestInDialog(dialogId: string, method: string, headers: Record<string, string> = {}): Promise<InDialogOutcome> {
    const agent = this.agent;
    if (!agent || !this.socket()) return 'failed';
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve('failed'), this.timeoutMs);
      try {
        agent.request({ method, stackDialogId: dialogId, headers }, (err) => {
          clearTimeout(timer);
          if (!err) resolve('sent');
          else resolve((err as Error & { code?: string }).code === 'ENODIALOG' ? 'no-dialog' : 'failed');
        });
      } catch {
        clearTimeout(timer);
        resolve('failed');
      }
    });
  }
}
