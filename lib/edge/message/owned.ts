/**
 * A buffer with memory of its own. Node's small buffers are slices of a shared 8 KB slab that
 * lives as long as any slice does, so one wire copy a finished transaction keeps for 64*T1 would
 * hold the slab and every short-lived message written next to it.
 */
export function ownedBuffer(length: number): Buffer {
  return length === 0 ? Buffer.alloc(0) : Buffer.allocUnsafeSlow(length);
}

/**
 * A flat copy of a string. Header values are slices of the message text they were parsed from and
 * keep all of it alive; what outlives the message (dialog state, records) is copied.
 */
export function ownedString(s: string): string {
  return s.length === 0 ? '' : Buffer.from(s, 'utf8').toString('utf8');
}
