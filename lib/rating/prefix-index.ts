import type { ChargingRule } from './types';

/** A node of the destination-prefix trie: the rules whose prefix ends here, highest priority first. */
export interface TrieNode {
  rules: ChargingRule[] | null;
  children: Array<TrieNode | undefined> | null;
}

export const MAX_PREFIX_DIGITS = 24;

function newNode(): TrieNode {
  return { rules: null, children: null };
}

/** One digit trie per service code. Built once at load; read-only afterwards. */
export class PrefixIndex {
  private readonly roots = new Map<string, TrieNode>();
  private nodes = 0;

  add(rule: ChargingRule): void {
    let node = this.roots.get(rule.service);
    if (node === undefined) {
      node = newNode();
      this.nodes++;
      this.roots.set(rule.service, node);
    }
    for (let i = 0; i < rule.prefix.length; i++) {
      const d = rule.prefix.charCodeAt(i) - 48;
      if (node.children === null) node.children = new Array<TrieNode | undefined>(10);
      let next: TrieNode | undefined = node.children[d];
      if (next === undefined) {
        next = newNode();
        this.nodes++;
        node.children[d] = next;
      }
      node = next;
    }
    (node.rules ??= []).push(rule);
  }

  /** Orders every node's rules by priority (highest first); call once after the last add. */
  seal(): void {
    const visit = (node: TrieNode): void => {
      if (node.rules !== null && node.rules.length > 1) node.rules.sort((a, b) => b.priority - a.priority || a.id - b.id);
      if (node.children !== null) for (const c of node.children) if (c !== undefined) visit(c);
    };
    for (const root of this.roots.values()) visit(root);
  }

  /**
   * Fills `out` with the nodes on the destination's path that hold rules, shortest prefix first,
   * and returns how many. `out` must have room for MAX_PREFIX_DIGITS + 1 entries.
   */
  path(service: string, destination: string, out: TrieNode[]): number {
    let node = this.roots.get(service);
    if (node === undefined) return 0;
    let n = 0;
    if (node.rules !== null) out[n++] = node;
    const len = Math.min(destination.length, MAX_PREFIX_DIGITS);
    for (let i = 0; i < len; i++) {
      const d = destination.charCodeAt(i) - 48;
      if (d < 0 || d > 9 || node.children === null) break;
      const next: TrieNode | undefined = node.children[d];
      if (next === undefined) break;
      node = next;
      if (node.rules !== null) out[n++] = node;
    }
    return n;
  }

  services(): IterableIterator<[string, TrieNode]> {
    return this.roots.entries();
  }

  get nodeCount(): number {
    return this.nodes;
  }
}
