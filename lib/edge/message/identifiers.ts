import { randomBytes } from 'node:crypto';

let idCounter = 0;
const idPrefix = randomBytes(4).toString('hex');

/** Unique per edge process and unguessable enough for tags and branches (RFC 3261 §19.3). */
function uniqueToken(): string {
  idCounter = (idCounter + 1) % 0x7fffffff;
  return `${idPrefix}${idCounter.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** A Via branch with the RFC 3261 magic cookie. */
export function newBranch(): string { return `z9hG4bK${uniqueToken()}`; }
export function newTag(): string { return uniqueToken(); }
