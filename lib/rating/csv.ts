/**
 * CSV of the rating tables (RFC 4180: comma separated, double quotes around fields that need them,
 * a header line of column names). An empty field is NULL. A column left out of the header is an
 * error, because a missing valid_to or destination_prefix read as NULL would widen a rule; only
 * the labels (`name`, `description`) may be left out, and are then empty.
 */
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

/** Splits CSV text into records of fields. */
function records(text: string, table: string): string[][] {
  const out: string[][] = [];
  let rec: string[] = [];
  let cur = '';
  let quoted = false;
  let line = 1;
  let i = 0;
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  while (i < body.length) {
    const ch = body[i]!;
    if (quoted) {
      if (ch === '"') {
        if (body[i + 1] === '"') { cur += '"'; i += 2; continue; }
        quoted = false; i++; continue;
      }
      if (ch === '\n') line++;
      cur += ch; i++; continue;
    }
    if (ch === '"') {
      if (cur !== '') throw new CsvFormatError(table, line, 'a quote inside an unquoted field');
      quoted = true; i++; continue;
    }
    if (ch === ',') { rec.push(cur); cur = ''; i++; continue; }
    if (ch === '\r' || ch === '\n') {
      rec.push(cur); cur = '';
      if (!(rec.length === 1 && rec[0] === '')) out.push(rec);
      rec = [];
      if (ch === '\r' && body[i + 1] === '\n') i++;
      i++; line++; continue;
    }
    cur += ch; i++;
  }
  if (quoted) throw new CsvFormatError(table, line, 'unterminated quoted field');
  if (cur !== '' || rec.length > 0) { rec.push(cur); out.push(rec); }
  return out;
}

/**
 * Parses one table's CSV; the header must name every column of the table (in any order), except
 * the optional labels. A file with no line at all is an empty table.
 */
export function parseTableCsv(table: RatingTableName, text: string): TableRow[] {
  const recs = records(text, table);
  if (recs.length === 0) return [];
  const header = recs[0]!.map((h) => h.trim());
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
  return recs.slice(1).map((rec, n) => {
    if (rec.length !== header.length) throw new CsvFormatError(table, n + 2, `${rec.length} fields, the header has ${header.length}`);
    const row: TableRow = {};
    for (const c of RATING_TABLES[table]) row[c] = null;
    header.forEach((h, k) => { row[h] = rec[k] === '' ? null : rec[k]!; });
    return row;
  });
}
