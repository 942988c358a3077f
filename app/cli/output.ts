import Table from 'cli-table3';

/** A column of a list: its header, and whether it holds figures (aligned right). */
export interface Column {
  header: string;
  right?: boolean;
}

const PLAIN = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '', bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
};

/**
 * A list as a table with a header line, no borders and no colours, so it reads in a terminal and
 * still greps and pipes into `column`/`awk` (one record a line, columns two spaces apart).
 */
export function formatTable(columns: Column[], rows: string[][], empty: string): string {
  if (rows.length === 0) return empty;
  const table = new Table({
    head: columns.map((c) => c.header),
    colAligns: columns.map((c) => (c.right ? 'right' : 'left')),
    chars: PLAIN,
    style: { head: [], border: [], compact: true, 'padding-left': 0, 'padding-right': 0 },
  });
  table.push(...rows);
  return table.toString().split('\n').map((l) => l.trimEnd()).join('\n');
}

/** Every read command's `--json`: money (bigint micro-units) leaves as a decimal string, never a float. */
export function toJson(value: unknown, money: (micros: bigint) => string): string {
  return JSON.stringify(value, (_key, v: unknown) => (typeof v === 'bigint' ? money(v) : v), 2);
}
