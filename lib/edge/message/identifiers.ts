import { randomBytes, randomUUID } from 'node:crypto';
import { ownedString } from './message';

let idCounter = 0;
const idPrefix = randomBytes(4).toString('hex');

/** Unique per edge process and unguessable enough for tags and branches (RFC 3261 §19.3). */
function uniqueToken(): string {
  idCounter = (idCounter + 1) % 0x7fffffff;
  return `${idPrefix}${idCounter.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

// Flat copies: built by concatenation these are trees of string pieces, several hundred bytes
// each once kept by a dialog or a record.

/** A Via branch with the RFC 3261 magic cookie. */
export function newBranch(): string { return ownedString(`z9hG4bK${uniqueToken()}`); }
export function newTag(): string { return ownedString(uniqueToken()); }
/** A transaction id for the control link (a UUID, as drachtio-server's). */
export function newTransactionId(): string { return ownedString(randomUUID()); }
