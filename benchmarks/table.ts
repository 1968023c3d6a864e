/** Plain-text tables with aligned columns, and number formats for them. */

/**
 * Renders rows under headers, two spaces between columns: the first `textColumns` columns
 * left-aligned (names), the others right-aligned (figures).
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], textColumns = 1): string {
  const widths = headers.map((header, i) => Math.max(header.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells
      .map((cell, i) => (i < textColumns ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(headers), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

/** An integer with thousands separators. */
export function int(value: number): string {
  return Math.round(value).toLocaleString('en-US');
}

/** A number with `digits` decimals; `—` for a figure not measured (NaN, which JSON carries as null). */
export function dec(value: number | null, digits = 1): string {
  if (value === null || !Number.isFinite(value)) return '—';
  return value.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** A ratio such as `3.42×`. */
export function times(value: number): string {
  return `${dec(value, 2)}×`;
}

/** A record size: `100 B`, `1 KiB`, `10 KiB`. */
export function bytes(size: number): string {
  return size >= 1024 && size % 1024 === 0 ? `${size / 1024} KiB` : `${size} B`;
}
