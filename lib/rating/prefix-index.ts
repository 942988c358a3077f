import type { ChargingRule } from './types';

export const MAX_PREFIX_DIGITS = 24;

interface BuildNode {
  rules: ChargingRule[] | null;
  children: Array<BuildNode | undefined> | null;
}

/**
 * One destination-digit trie per service code. Rules are added into an object trie, then seal()
 * packs it breadth-first into one Int32Array of child links (ten per node), so a look-up over
 * 100,000 rules walks a few cache-friendly integers instead of chasing objects.
 */
export class PrefixIndex {
  private building: Map<string, BuildNode> | null = new Map();
  private roots = new Map<string, number>();
  /** children[node * 10 + digit] = child node index, 0 = none (node 0 is never a child). */
  private children = new Int32Array(0);
  /** Rules whose prefix ends at the node, highest priority first; null when none. */
  private nodeRules: Array<ChargingRule[] | null> = [];

  add(rule: ChargingRule): void {
    if (this.building === null) throw new Error('PrefixIndex is sealed');
    let node: BuildNode | undefined = this.building.get(rule.service);
    if (node === undefined) {
      node = { rules: null, children: null };
      this.building.set(rule.service, node);
    }
    for (let i = 0; i < rule.prefix.length; i++) {
      const d = rule.prefix.charCodeAt(i) - 48;
      node.children ??= new Array<BuildNode | undefined>(10);
      let next: BuildNode | undefined = node.children[d];
      if (next === undefined) {
        next = { rules: null, children: null };
        node.children[d] = next;
      }
      node = next;
    }
    (node.rules ??= []).push(rule);
  }

  /** Orders each node's rules by priority and packs the trie; call once after the last add. */
  seal(): void {
    if (this.building === null) return;
    const order: BuildNode[] = [];
    const queue: BuildNode[] = [];
    const ids = new Map<BuildNode, number>();
    // A dummy node 0 so that 0 can mean "no child".
    order.push({ rules: null, children: null });
    for (const [service, root] of this.building) {
      ids.set(root, order.length);
      this.roots.set(service, order.length);
      order.push(root);
      queue.push(root);
    }
    for (let q = 0; q < queue.length; q++) {
      const n = queue[q]!;
      if (n.children === null) continue;
      for (const c of n.children) {
        if (c === undefined) continue;
        ids.set(c, order.length);
        order.push(c);
        queue.push(c);
      }
    }
    this.children = new Int32Array(order.length * 10);
    this.nodeRules = new Array<ChargingRule[] | null>(order.length).fill(null);
    for (let i = 1; i < order.length; i++) {
      const n = order[i]!;
      if (n.rules !== null) {
        n.rules.sort((a, b) => b.priority - a.priority || a.id - b.id);
        this.nodeRules[i] = n.rules;
      }
      if (n.children !== null) {
        for (let d = 0; d < 10; d++) {
          const c = n.children[d];
          if (c !== undefined) this.children[i * 10 + d] = ids.get(c)!;
        }
      }
    }
    this.building = null;
  }

  /**
   * Fills `out` with the nodes on the destination's path that hold rules, shortest prefix first,
   * and returns how many. `out` must have room for MAX_PREFIX_DIGITS + 1 entries.
   */
  path(service: string, destination: string, out: Int32Array): number {
    const root = this.roots.get(service);
    if (root === undefined) return 0;
    let node: number = root;
    const children = this.children, nodeRules = this.nodeRules;
    let n = 0;
    if (nodeRules[node] !== null) out[n++] = node;
    const len = destination.length < MAX_PREFIX_DIGITS ? destination.length : MAX_PREFIX_DIGITS;
    for (let i = 0; i < len; i++) {
      const d = destination.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      const next: number = children[node * 10 + d]!;
      if (next === 0) break;
      node = next;
      if (nodeRules[node] !== null) out[n++] = node;
    }
    return n;
  }

  rulesAt(node: number): ChargingRule[] {
    return this.nodeRules[node] ?? [];
  }

  /** Depth-first over one service's trie: `enter` gets a node's rules and returns the state for its children. */
  walk<S>(service: string, initial: S, enter: (rules: ChargingRule[] | null, state: S) => S): void {
    const root = this.roots.get(service);
    if (root === undefined) return;
    const stack: Array<[number, S]> = [[root, initial]];
    for (let guard = 0; stack.length > 0 && guard < this.nodeRules.length; guard++) {
      const [node, state] = stack.pop()!;
      const next = enter(this.nodeRules[node] ?? null, state);
      for (let d = 9; d >= 0; d--) {
        const c = this.children[node * 10 + d]!;
        if (c !== 0) stack.push([c, next]);
      }
    }
  }

  serviceCodes(): string[] {
    return [...this.roots.keys()];
  }

  get nodeCount(): number {
    return this.nodeRules.length - 1;
  }
}
