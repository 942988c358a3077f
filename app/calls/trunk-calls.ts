import type { VpnService } from '../../lib/vpn';

/** Live outbound calls per trunk, against each trunk's concurrent-call limit. */
export class TrunkCallCounter {
  private readonly live = new Map<number, number>();

  constructor(private readonly vpn: VpnService) {}

  hasRoom(trunkId: number): boolean {
    const limit = this.vpn.directory.trunk(trunkId)?.maxCalls ?? null;
    return limit === null || (this.live.get(trunkId) ?? 0) < limit;
  }

  /** Takes a slot; the returned function gives it back (once). */
  take(trunkId: number): () => void {
    this.live.set(trunkId, (this.live.get(trunkId) ?? 0) + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.live.set(trunkId, Math.max(0, (this.live.get(trunkId) ?? 1) - 1));
    };
  }

  count(trunkId: number): number {
    return this.live.get(trunkId) ?? 0;
  }
}
