import type { Writable } from 'node:stream';

/**
 * Coalesces the writes a stream socket gets in one turn of the event loop into one system call.
 *
 * On loopback a write costs its sender the whole TCP path, so one write per SIP or control message
 * was the largest single cost of both processes under load. A socket written to is corked until
 * the check phase of the current loop turn (setImmediate), then uncorked: Node hands everything
 * written meanwhile to one writev. Order is kept, nothing waits longer than the rest of the current
 * turn, and a socket that ends or is destroyed meanwhile is simply skipped.
 */
export class WriteBatcher {
  /** The sockets corked in this turn, with the writes each has had. */
  private pending = new Map<Writable, number>();
  /** The map of the turn before, emptied, taken as the next turn's (one map less per turn). */
  private spare = new Map<Writable, number>();
  private scheduled = false;
  /** Writes that went out together with others, and the batches (one writev each) they made. */
  coalescedWrites = 0;
  batches = 0;

  /** Writes `data` to `socket`, batched with its other writes of this loop turn. */
  write(socket: Writable, data: string | Uint8Array): boolean {
    this.hold(socket);
    return socket.write(data);
  }

  /** Corks `socket` until the end of this loop turn, if it is not already. */
  hold(socket: Writable): void {
    if (socket.destroyed || socket.writableEnded) return;
    const n = this.pending.get(socket);
    if (n === undefined) {
      socket.cork();
      this.pending.set(socket, 1);
    } else {
      this.pending.set(socket, n + 1);
    }
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flush);
    }
  }

  /** Uncorks every socket held in this turn. */
  readonly flush = (): void => {
    this.scheduled = false;
    const held = this.pending;
    this.pending = this.spare;
    for (const [socket, n] of held) {
      if (n > 1) { this.coalescedWrites += n; this.batches++; }
      if (!socket.destroyed) socket.uncork();
    }
    held.clear();
    this.spare = held;
  };
}

/**
 * Makes every later `socket.write` go through `batcher`, for a socket whose writes are made by code
 * that is not ours (drachtio-srf's control connection). Idempotent per socket.
 */
export function batchSocketWrites(socket: Writable, batcher: WriteBatcher): void {
  const marked = socket as Writable & { [BATCHED]?: true };
  if (marked[BATCHED]) return;
  marked[BATCHED] = true;
  const write = socket.write;
  socket.write = function batchedWrite(this: Writable, ...args: unknown[]): boolean {
    batcher.hold(socket);
    return (write as (...a: unknown[]) => boolean).apply(socket, args);
  } as Writable['write'];
}

const BATCHED = Symbol('tollgate.batchedWrites');
