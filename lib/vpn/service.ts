import { Directory } from './directory';
import { resolveCall } from './resolver';
import type { CallResolutionResult, NumberingPlan, ResolveCallInput, Trunk } from './types';

/**
 * Holds the current directory snapshot. A reload builds a new Directory aside and swaps the one
 * reference, so a resolution always sees one whole snapshot, never a half-loaded one.
 */
export class VpnService {
  private current: Directory;
  private loadedAt: Date;

  constructor(initial: Directory) {
    this.current = initial;
    this.loadedAt = new Date();
  }

  static empty(plan: NumberingPlan): VpnService {
    return new VpnService(Directory.empty(plan));
  }

  get directory(): Directory {
    return this.current;
  }

  get plan(): NumberingPlan {
    return this.current.plan;
  }

  get snapshotLoadedAt(): Date {
    return this.loadedAt;
  }

  /** Replaces the snapshot; returns the previous one. */
  swap(next: Directory): Directory {
    const previous = this.current;
    this.current = next;
    this.loadedAt = new Date();
    return previous;
  }

  resolveCall(input: ResolveCallInput): CallResolutionResult {
    return resolveCall(this.current, input);
  }

  /** The trunk allowed to send from this source address, or undefined (the INVITE gets 403). */
  matchTrunk(sourceAddress: string): Trunk | undefined {
    return this.current.matchTrunk(sourceAddress);
  }
}
