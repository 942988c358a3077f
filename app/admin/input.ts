import type AjvType from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { AppError } from '../../lib/common/errors';
import { MONEY_PATTERN } from './schemas';

/**
 * The admin API's input schemas applied outside HTTP: the command line builds the same object a
 * request body would carry and checks it against the same schema, so an input has one definition
 * whichever door it comes in by. The options are the API's (fastify's ajv with ajv-formats).
 */
let ajv: AjvType | undefined;
const compiled = new WeakMap<object, ValidateFunction>();

/** Loaded at the first check: a command line start that checks nothing does not pay for it. */
function validator(): AjvType {
  if (!ajv) {
    /* eslint-disable @typescript-eslint/no-require-imports */
    const Ajv = (require('ajv') as { default: typeof AjvType }).default;
    const addFormats = (require('ajv-formats') as { default: (a: AjvType) => AjvType }).default;
    /* eslint-enable @typescript-eslint/no-require-imports */
    ajv = addFormats(new Ajv({ strict: false, allErrors: false, removeAdditional: false, formats: { money: new RegExp(MONEY_PATTERN) } }));
  }
  return ajv;
}

/** How a field is named to the user: e.g. `amount` is `<amount>` and `maxCalls` is `--max-calls` on the command line. */
export type FieldNames = Record<string, string>;

/**
 * Throws a BAD_ARGUMENT AppError naming the field, in the caller's words, when the value does not
 * fit the schema. A malformed amount is left to the domain parser, whose message says more
 * ("more than 6 decimal places", "too large") than a pattern does.
 */
export function checkInput(schema: Record<string, unknown>, value: Record<string, unknown>, names: FieldNames, moneyParser?: (text: string, field: string) => unknown): void {
  let validate = compiled.get(schema);
  if (!validate) {
    validate = validator().compile(schema);
    compiled.set(schema, validate);
  }
  if (validate(value)) return;
  const error = validate.errors![0]!;
  const field = fieldOf(error);
  const given = field ? value[field] : undefined;
  if (moneyParser && error.keyword === 'format' && (error.params as { format?: string }).format === 'money' && typeof given === 'string') {
    moneyParser(given, field!); // throws its own, more precise message
  }
  const name = field ? names[field] ?? field : 'input';
  throw new AppError('BAD_ARGUMENT', `${name} ${describe(error, schema, field, given)}`, { field });
}

function fieldOf(error: ErrorObject): string | undefined {
  const p = error.params as { missingProperty?: string; additionalProperty?: string };
  return p.missingProperty ?? p.additionalProperty ?? (error.instancePath.replace(/^\//, '').split('/')[0] || undefined);
}

function describe(error: ErrorObject, schema: Record<string, unknown>, field: string | undefined, given: unknown): string {
  const shown = given === undefined ? '' : `, not ${JSON.stringify(given)}`;
  const property = field ? ((schema.properties as Record<string, Record<string, unknown>> | undefined)?.[field] ?? {}) : {};
  switch (error.keyword) {
    case 'required': return 'is required';
    case 'additionalProperties': return 'is not a known field';
    case 'enum': return `must be one of ${(error.params as { allowedValues: unknown[] }).allowedValues.join(', ')}${shown}`;
    case 'pattern':
    case 'format': {
      const format = (error.params as { format?: string }).format;
      if (format === 'money') return `must be a decimal amount, e.g. 12.50 (at most 6 decimals)${shown}`;
      if (format === 'date-time') return `must be an ISO 8601 instant, e.g. 2026-12-31T23:59:59Z${shown}`;
      return `must be ${typeof property.description === 'string' ? property.description : `like ${String(property.pattern ?? format)}`}${shown}`;
    }
    default: return `${error.message ?? 'is invalid'}${shown}`;
  }
}
