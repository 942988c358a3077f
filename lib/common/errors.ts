/** Our own failures: one error type with a stable code, an optional cause and details. */
export class AppError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'AppError';
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * A statement that was sent to the database and then lost its answer (no answer in time, or the
 * connection broke): the server may have applied it, or may still apply it (a stalled server that
 * resumes runs what it had received). The driver layer marks the error it throws with
 * `outcomeUnknown: true`; this finds the mark through wrapping errors (`cause`, Sequelize's `parent`).
 */
export function outcomeUnknown(err: unknown): boolean {
  let e = err as { outcomeUnknown?: unknown; cause?: unknown; parent?: unknown } | null | undefined;
  for (let depth = 0; e && typeof e === 'object' && depth < 5; depth++) {
    if (e.outcomeUnknown === true) return true;
    e = (e.cause ?? e.parent) as typeof e;
  }
  return false;
}
