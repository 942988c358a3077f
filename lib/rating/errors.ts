import { AppError } from '../common/errors';

export type RatingErrorCode = 'NO_RULE' | 'BAD_SECONDS' | 'BAD_START' | 'RULESET_INVALID';

/** A rating failure with a stable code: NO_RULE when no charging rule matches the call. */
export class RatingError extends AppError {
  constructor(override readonly code: RatingErrorCode, message: string, details: Record<string, unknown> = {}) {
    super(code, message, details);
    this.name = 'RatingError';
  }
}
