/**
 * CSV of the rating tables (RFC 4180: comma separated, double quotes around fields that need them,
 * a header line of column names). An empty field is NULL. A column left out of the header is an
 * error, because a missing valid_to or destination_prefix read as NULL would widen a rule; only
 * the labels (`name`, `description`) may be left out, and are then empty.
 */
import { CsvError, parse } from 'csv-parse/sync';
import { RATING_TABLES, type RatingTableName, type TableRow } from './tables';

export class CsvFormatError extends Error {
  constructor(readonly table: string, readonly line: number, reason: string) {
    super(`${table}.csv line ${line}: ${reason}`);
    this.name = 'CsvFormatError';
  }
}

function field(v: string | null): string {
  if (v === null) return '';
  return /[",\r\n]/.test(v) || v !== v.trim() ? `"${v.replace(/"/g, '""')}"` : v;
}

/** Columns that may be left out of a CSV header: labels only, read as empty. */
export const OPTIONAL_COLUMNS: ReadonlySet<string> = new Set(['name', 'description']);

/** Rows in id order, numerically (2 before 10), whatever order they came in. */
export function formatTableCsv(table: RatingTableName, rows: readonly TableRow[]): string {
  const columns = RATING_TABLES[table];
  const lines = [columns.join(',')];
  const idOf = (r: TableRow): number => { const n = Number(r.id); return Number.isFinite(n) ? n : Infinity; };
  const sorted = [...rows].sort((a, b) => idOf(a) - idOf(b));
  for (const r of sorted) lines.push(columns.map((c) => field(r[c] ?? null)).join(','));
  return lines.join('\r\n') + '\r\n';
}

/** What csv-parse's refusals mean, in the words of this file's other messages. */
const PARSE_ERRORS: Record<string, string> = {
  CSV_QUOTE_NOT_CLOSED: 'unterminated quoted field',
  INVALID_OPENING_QUOTE: 'a quote inside an unquoted field',
  CSV_INVALID_OPENING_QUOTE: 'a quote inside an unquoted field',
  CSV_INVALID_CLOSING_QUOTE: 'a closing quote not followed by a comma or the end of the line',
};

/** Splits CSV text into records of fields, each with the line it ends on (csv-parse, RFC 4180). */
function records(text: string, table: string): Array<{ fields: string[]; line: number }> {
  try {
    const parsed = parse(text, {
      bom: true, skip_empty_lines: true, info: true,
      // Field counts are checked below, with the table's own message.
      relax_column_count: true,
      // A file edited on another system may mix line ends: every usual one ends a record.
      record_delimiter: ['\r\n', '\n', '\r'],
    }) as unknown as Array<{ record: string[]; info: { lines: number } }>;
    return parsed.map((r) => ({ fields: r.record, line: r.info.lines }));
  } catch (err) {
    if (err instanceof CsvError) {
      const line = (err as CsvError & { lines?: number }).lines ?? 0;
      throw new CsvFormatError(table, line, PARSE_ERRORS[err.code] ?? err.message);
    }
    throw err;
  }
}

/**
 * Parses one table's CSV; the header must name every column of the table (in any order), except
 * the optional labels. A file with no line at all is an empty table.
 */
export function parseTableCsv(table: RatingTableName, text: string): TableRow[] {
  const recs = records(text, table);
  if (recs.length === 0) return [];
  const header = recs[0]!.fields.map((h) => h.trim());
  const known = new Set<string>(RATING_TABLES[table]);
  for (const h of header) if (!known.has(h)) throw new CsvFormatError(table, 1, `unknown column "${h}" (expected ${RATING_TABLES[table].join(', ')})`);
  const seen = new Set<string>();
  for (const h of header) {
    if (seen.has(h)) throw new CsvFormatError(table, 1, `column "${h}" appears twice`);
    seen.add(h);
  }
  const missing = RATING_TABLES[table].filter((c) => !seen.has(c) && !OPTIONAL_COLUMNS.has(c));
  if (missing.length > 0) {
    throw new CsvFormatError(table, 1, `missing column${missing.length > 1 ? 's' : ''} ${missing.map((c) => `"${c}"`).join(', ')} (every column must be in the header; leave a field empty for NULL)`);
  }
  return recs.slice(1).map(({ fields, line }) => {
    if (fields.length !== header.length) throw new CsvFormatError(table, line, `${fields.length} fields, the header has ${header.length}`);
    const row: TableRow = {};
    for (const c of RATING_TABLES[table]) row[c] = null;
    header.forEach((h, k) => { row[h] = fields[k] === '' ? null : fields[k]!; });
    return row;
  });
}
