import type { Route, Trunk, TrunkTarget } from './types';

export function trunkTarget(trunk: Trunk): TrunkTarget {
  return Object.freeze({ trunkId: trunk.id, name: trunk.name, host: trunk.host, port: trunk.port, transport: trunk.transport });
}

function compareRoutes(a: Route, b: Route): number {
  return a.priority - b.priority || a.id - b.id;
}

/**
 * Destination prefix → trunks. The fail-over list for a number is every matching route, longest
 * prefix first, then by priority (lower first), then by id; a trunk appears once, at its first
 * place. Disabled routes and routes to disabled trunks are left out. Lists are computed when the
 * table is built, so a look-up allocates nothing.
 */
export class RouteTable {
  private readonly lists = new Map<string, readonly TrunkTarget[]>();
  /** Prefix lengths present, longest first. */
  private readonly lengths: number[];
  private static readonly NONE: readonly TrunkTarget[] = Object.freeze([]);

  constructor(routes: readonly Route[], targets: ReadonlyMap<number, TrunkTarget>, enabledTrunks: ReadonlySet<number>) {
    const byPrefix = new Map<string, Route[]>();
    for (const route of routes) {
      if (!route.enabled || !enabledTrunks.has(route.trunkId) || !targets.has(route.trunkId)) continue;
      const list = byPrefix.get(route.prefix);
      if (list) list.push(route);
      else byPrefix.set(route.prefix, [route]);
    }
    const prefixes = [...byPrefix.keys()].sort((a, b) => a.length - b.length);
    for (const prefix of prefixes) {
      const own = byPrefix.get(prefix)!.sort(compareRoutes).map((r) => targets.get(r.trunkId)!);
      const parent = this.parentList(prefix);
      const seen = new Set<number>();
      const merged: TrunkTarget[] = [];
      for (const target of [...own, ...parent]) {
        if (seen.has(target.trunkId)) continue;
        seen.add(target.trunkId);
        merged.push(target);
      }
      this.lists.set(prefix, Object.freeze(merged));
    }
    this.lengths = [...new Set(prefixes.map((p) => p.length))].sort((a, b) => b - a);
  }

  /** Longest shorter prefix already in the table (built shortest first). */
  private parentList(prefix: string): readonly TrunkTarget[] {
    for (let len = prefix.length - 1; len >= 0; len--) {
      const list = this.lists.get(prefix.slice(0, len));
      if (list) return list;
    }
    return RouteTable.NONE;
  }

  /** Targets for an E.164 number in fail-over order; empty when no route matches. */
  lookup(e164: string): readonly TrunkTarget[] {
    for (const len of this.lengths) {
      if (len > e164.length) continue;
      const list = this.lists.get(len === e164.length ? e164 : e164.slice(0, len));
      if (list) return list;
    }
    return RouteTable.NONE;
  }

  get size(): number {
    return this.lists.size;
  }
}
