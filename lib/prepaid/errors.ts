import { AppError } from '../common/errors';

/** Codes of our own prepaid failures (refusals of a call are results, not errors: see Refusal). */
export type PrepaidErrorCode =
  | 'UNKNOWN_ACCOUNT'
  | 'UNKNOWN_CALL'
  | 'DUPLICATE_ACCOUNT'
  | 'INVALID_AMOUNT'
  | 'AMOUNT_OUT_OF_RANGE'
  | 'INVALID_ACCOUNT'
  | 'INVALID_KEY'
  | 'CURRENCY_MISMATCH'
  | 'INSUFFICIENT_FUNDS'
  | 'IDEMPOTENCY_CONFLICT'
  | 'ILLEGAL_STATE'
  | 'DB_UNAVAILABLE';

export class PrepaidError extends AppError {
  constructor(code: PrepaidErrorCode, message: string, details: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super(code, message, details, options);
    this.name = 'PrepaidError';
  }
}

/** The storage layer could not reach the database: the failure policy applies. */
export function isUnavailable(err: unknown): boolean {
  return err instanceof AppError && err.code === 'DB_UNAVAILABLE';
}

/** A domain decision (bad input, conflict): retrying or journalling would not change it. */
export function isDecision(err: unknown): boolean {
  return err instanceof AppError && err.code !== 'DB_UNAVAILABLE';
}

/** For a `.catch`: an account that does not exist reads as undefined; every other error is rethrown. */
export function unlessUnknownAccount(err: unknown): undefined {
  if (err instanceof PrepaidError && err.code === 'UNKNOWN_ACCOUNT') return undefined;
  throw err;
}
