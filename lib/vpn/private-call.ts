/**
 * Private calls: a member dials its group's private-call prefix ("*7") before the number. The
 * prefix is taken off the user part of the Request-URI (or the bare digits) before the number is
 * read in the group's plan, so `sip:*79030123456@pbx` is the call to `9030123456`, made private.
 */

const PRIVATE_PREFIX = /^[0-9*#]{1,4}$/;

export function isValidPrivatePrefix(prefix: string): boolean {
  return PRIVATE_PREFIX.test(prefix);
}

/** Where the user part (or the bare number) begins in what arrived, or -1 when there is none. */
function userPartStart(input: string): number {
  let start = 0;
  const lt = input.indexOf('<');
  if (lt >= 0) start = lt + 1;
  while (start < input.length && input.charCodeAt(start) === 32) start++;
  const scheme = /^(sips?|tel):/i.exec(input.slice(start, start + 5));
  return scheme ? start + scheme[0].length : start;
}

/** The dialled string without the prefix, when its user part begins with it; else undefined. */
export function stripPrivatePrefix(dialled: string, prefix: string | null | undefined): string | undefined {
  if (!prefix) return undefined;
  const at = userPartStart(dialled);
  // In a SIP URI '#' must be %-escaped and '*' may be.
  const escaped = prefix.replace(/#/g, '%23').replace(/\*/g, '%2A');
  for (const form of [prefix, escaped, escaped.toLowerCase()]) {
    if (dialled.startsWith(form, at)) return dialled.slice(0, at) + dialled.slice(at + form.length);
  }
  return undefined;
}
