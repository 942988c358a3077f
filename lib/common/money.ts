/**
 * Money is carried as a bigint count of micro-units (1e-6 of the currency unit).
 * It enters from the database and from people as decimal strings ("0.0150") and
 * leaves the same way; it is never a JavaScript float.
 */
export type Micros = bigint;

export const MICROS_PER_UNIT = 1_000_000n;
const DECIMAL = /^([+-])?(\d+)(?:\.(\d+))?$/;

export class MoneyFormatError extends Error {
  readonly code = 'MONEY_FORMAT';
  constructor(readonly input: unknown, reason: string) {
    super(`invalid amount ${JSON.stringify(input)}: ${reason}`);
    this.name = 'MoneyFormatError';
  }
}

/**
 * Parse a decimal string (as MySQL DECIMAL columns and admins write it) into micro-units.
 * More than six decimals is refused unless the extra digits are zeros: nothing is rounded silently.
 */
export function parseMoney(input: string | number | bigint): Micros {
  if (typeof input === 'bigint') return input * MICROS_PER_UNIT;
  if (typeof input === 'number') {
    if (!Number.isSafeInteger(input)) throw new MoneyFormatError(input, 'only whole numbers may be given as numbers; use a decimal string');
    return BigInt(input) * MICROS_PER_UNIT;
  }
  const text = input.trim();
  const m = DECIMAL.exec(text);
  if (!m) throw new MoneyFormatError(input, 'expected a decimal number such as 12.50');
  const sign = m[1] === '-' ? -1n : 1n;
  const whole = BigInt(m[2]!);
  let frac = m[3] ?? '';
  if (frac.length > 6) {
    if (/[^0]/.test(frac.slice(6))) throw new MoneyFormatError(input, 'more than 6 decimal places');
    frac = frac.slice(0, 6);
  }
  const micros = whole * MICROS_PER_UNIT + BigInt(frac.padEnd(6, '0'));
  return sign * micros;
}

/** Format micro-units as a plain decimal string with six places ("0.015000"). */
export function formatMoney(micros: Micros, places = 6): string {
  const neg = micros < 0n;
  const abs = neg ? -micros : micros;
  const whole = abs / MICROS_PER_UNIT;
  const frac = (abs % MICROS_PER_UNIT).toString().padStart(6, '0').slice(0, places);
  return `${neg ? '-' : ''}${whole}${places > 0 ? '.' + frac : ''}`;
}

/**
 * Money as log lines and messages show it: decimal with its currency, at least 2 decimals and no
 * trailing zeros beyond them ("1.25 EUR", "0.001234 EUR"), never micro-units.
 */
export function moneyText(micros: Micros, currency: string | null | undefined): string {
  const text = formatMoney(micros).replace(/(\.\d\d\d*?)0+$/, '$1');
  return currency ? `${text} ${currency}` : text;
}

/** Integer division rounding towards +infinity, for non-negative divisors. */
export function ceilDiv(a: bigint, b: bigint): bigint {
  if (b <= 0n) throw new RangeError('ceilDiv: divisor must be positive');
  const q = a / b;
  return a % b > 0n ? q + 1n : q;
}

export function minMicros(a: Micros, b: Micros): Micros { return a < b ? a : b; }
export function maxMicros(a: Micros, b: Micros): Micros { return a > b ? a : b; }
