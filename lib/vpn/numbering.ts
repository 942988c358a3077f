import type { CallRefusal, NumberingPlan } from './types';

/**
 * Number normalisation: from what arrives in SIP (a `sip:`/`sips:`/`tel:` URI, a name-addr, or
 * bare digits) to the dialled digit string, and from dialled digits to E.164 digits (no '+').
 */

export type NumberResult = { ok: true; value: string } | { ok: false; refusal: CallRefusal };

export const E164_MAX_DIGITS = 15;
const DEFAULT_AREA_CODE_LENGTH = 2;
const DEFAULT_MIN_NATIONAL_DIGITS = 4;
/** RFC 3966 visual separators, plus spaces people type. */
const VISUAL_SEPARATORS = /[\s\-.()/]/g;
const SCHEME = /^([A-Za-z][A-Za-z0-9+.-]*):/;

/** Digits only, optionally after one leading '+' (and at least one digit). */
function isDialString(text: string): boolean {
  const n = text.length;
  let i = n > 0 && text.charCodeAt(0) === 43 ? 1 : 0;
  if (i >= n) return false;
  for (; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function isDigits(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return text.length > 0;
}

export function invalidNumber(input: string, why: string): { ok: false; refusal: CallRefusal } {
  return { ok: false, refusal: { status: 404, code: 'INVALID_NUMBER', reason: `${JSON.stringify(input)} is not a telephone number: ${why}` } };
}

export function incompleteNumber(input: string, why: string): { ok: false; refusal: CallRefusal } {
  return { ok: false, refusal: { status: 484, code: 'INCOMPLETE_NUMBER', reason: `${JSON.stringify(input)} is incomplete: ${why}` } };
}

export function areaCodeLength(plan: NumberingPlan): number {
  return plan.areaCodeLength ?? DEFAULT_AREA_CODE_LENGTH;
}

export function minNationalDigits(plan: NumberingPlan): number {
  return plan.minNationalDigits ?? DEFAULT_MIN_NATIONAL_DIGITS;
}

/**
 * The dialled digits in a URI or a typed number: `"Bob" <sip:+49-30-123@host;user=phone>` →
 * `+4930123`, `tel:030 123;phone-context=example.com` → `030123`, `sip:100@pbx` → `100`.
 * The result is digits, optionally led by '+'. Parameters (user=phone, phone-context) are read
 * past: a number is a number whether or not the URI says user=phone.
 */
export function parseDialString(input: string): NumberResult {
  if (isDialString(input)) return { ok: true, value: input }; // the common case: plain digits
  let text = input.trim();
  if (text.length === 0) return incompleteNumber(input, 'no digits');
  const lt = text.indexOf('<');
  if (lt >= 0) {
    const gt = text.indexOf('>', lt + 1);
    if (gt < 0) return invalidNumber(input, 'unterminated <URI>');
    text = text.slice(lt + 1, gt).trim();
  }
  let user = text;
  const scheme = SCHEME.exec(text);
  if (scheme) {
    const name = scheme[1]!.toLowerCase();
    const rest = text.slice(scheme[0].length);
    if (name === 'sip' || name === 'sips') {
      const at = rest.indexOf('@');
      if (at <= 0) return invalidNumber(input, 'the SIP URI has no user part');
      user = rest.slice(0, at);
    } else if (name === 'tel') {
      user = rest;
    } else {
      return { ok: false, refusal: { status: 416, code: 'UNSUPPORTED_URI_SCHEME', reason: `URI scheme ${name}: is not supported; use sip:, sips: or tel:` } };
    }
  }
  const semi = user.indexOf(';');
  if (semi >= 0) user = user.slice(0, semi);
  if (user.includes('%')) {
    try {
      user = decodeURIComponent(user);
    } catch {
      return invalidNumber(input, 'bad percent-encoding');
    }
  }
  const digits = user.replace(VISUAL_SEPARATORS, '');
  if (digits.length === 0 || digits === '+') return incompleteNumber(input, 'no digits');
  if (!isDialString(digits)) return invalidNumber(input, 'only digits, an optional leading + and separators are allowed');
  return { ok: true, value: digits };
}

export interface NormaliseOptions {
  /**
   * E.164 digits (country code and area code) to put before a number dialled with no prefix at all
   * (local format). Without it such a number is taken as E.164 already, as trunks send them.
   */
  localPrefix?: string;
}

/**
 * Dialled digits (from parseDialString) to E.164 digits without '+':
 * `+4930123456`, `004930123456`, `030123456` (national), `123456` with a local prefix `4930`.
 */
export function toE164(dialled: string, plan: NumberingPlan, options: NormaliseOptions = {}): NumberResult {
  let e164: string;
  let domestic = false;
  const intl = plan.internationalPrefix;
  const national = plan.nationalPrefix;
  // The longer of the two prefixes is tried first ("00" before "0").
  const intlFirst = intl.length >= national.length;
  if (dialled.startsWith('+')) {
    e164 = dialled.slice(1);
  } else if (intlFirst && intl !== '' && dialled.startsWith(intl)) {
    e164 = dialled.slice(intl.length);
  } else if (national !== '' && dialled.startsWith(national)) {
    e164 = plan.countryCode + dialled.slice(national.length);
    domestic = true;
  } else if (!intlFirst && intl !== '' && dialled.startsWith(intl)) {
    e164 = dialled.slice(intl.length);
  } else if (options.localPrefix !== undefined) {
    e164 = options.localPrefix + dialled;
    domestic = e164.startsWith(plan.countryCode);
  } else {
    e164 = dialled;
  }
  if (e164.length === 0) return incompleteNumber(dialled, 'only a prefix was dialled');
  if (!isDigits(e164)) return invalidNumber(dialled, 'only digits may follow the prefix');
  if (e164.startsWith('0')) return invalidNumber(dialled, 'a country code cannot begin with 0');
  if (e164.length > E164_MAX_DIGITS) return invalidNumber(dialled, `longer than ${E164_MAX_DIGITS} digits`);
  const minNsn = minNationalDigits(plan);
  if (domestic || e164.startsWith(plan.countryCode)) {
    if (e164.length - plan.countryCode.length < minNsn) return incompleteNumber(dialled, `fewer than ${minNsn} digits after the country code`);
  } else if (e164.length < minNsn + 3) {
    return incompleteNumber(dialled, `fewer than ${minNsn + 3} digits`);
  }
  return { ok: true, value: e164 };
}

/** parseDialString then toE164: for calling and called numbers as they arrive in signalling. */
export function normaliseNumber(input: string, plan: NumberingPlan, options: NormaliseOptions = {}): NumberResult {
  const parsed = parseDialString(input);
  if (!parsed.ok) return parsed;
  return toE164(parsed.value, plan, options);
}

/** Country code plus area code of a domestic number; undefined for a foreign number. */
export function localPrefixOf(e164: string, plan: NumberingPlan): string | undefined {
  if (!e164.startsWith(plan.countryCode)) return undefined;
  const length = plan.countryCode.length + areaCodeLength(plan);
  return e164.length > length ? e164.slice(0, length) : undefined;
}

export type DestinationClass = 'local' | 'national' | 'international';

/**
 * Local: a domestic number in the caller's own area (same country code and the same first
 * `areaCodeLength` digits of the national number). National: any other domestic number.
 * International: a number with another country code.
 */
export function classifyDestination(e164: string, callerE164: string, plan: NumberingPlan): DestinationClass {
  if (!e164.startsWith(plan.countryCode)) return 'international';
  const local = localPrefixOf(callerE164, plan);
  return local !== undefined && e164.startsWith(local) && e164.length > local.length ? 'local' : 'national';
}
