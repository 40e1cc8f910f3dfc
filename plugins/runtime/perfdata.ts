/**
 * Performance data as the plugin guidelines define it:
 * `'label'=value[UOM];[warn];[crit];[min];[max]`, trailing empty fields dropped.
 */
export type Uom = '' | 's' | 'ms' | 'us' | '%' | 'B' | 'KB' | 'MB' | 'TB' | 'c';

export interface PerfDatum {
  readonly label: string;
  /** `undefined` prints `U` (value could not be determined) */
  readonly value: number | undefined;
  readonly uom?: Uom;
  readonly warn?: string;
  readonly crit?: string;
  readonly min?: number;
  readonly max?: number;
  /** fixed decimals for value/min/max; monitoring-plugins' fperfdata uses 6 (`%f`) */
  readonly decimals?: number;
}

/** One phase's duration in seconds, printed as the C plugins print times (`connect=0.000312s;;;0.000000`). */
export function phaseSeconds(label: string, value: number): PerfDatum {
  return { label, value, uom: 's', decimals: 6, min: 0 };
}

/** Plain decimal notation, never exponent form (some perfdata parsers reject `1e-7`). */
export function formatNumber(value: number, decimals?: number): string {
  if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
  if (Math.abs(value) >= 1e21) return BigInt(Math.round(value)).toString();
  if (decimals !== undefined) return value.toFixed(decimals);
  const text = String(value);
  if (!/e/i.test(text)) return text;
  return value.toFixed(12).replace(/\.?0+$/, '');
}

export function quoteLabel(label: string): string {
  return /[\s='|]/.test(label) ? `'${label.replace(/'/g, "''")}'` : label;
}

export function formatPerfDatum(p: PerfDatum): string {
  const value = p.value === undefined ? 'U' : formatNumber(p.value, p.decimals) + (p.uom ?? '');
  const fields = [
    value,
    p.warn ?? '',
    p.crit ?? '',
    p.min === undefined ? '' : formatNumber(p.min, p.decimals),
    p.max === undefined ? '' : formatNumber(p.max, p.decimals),
  ];
  while (fields.length > 1 && fields[fields.length - 1] === '') fields.pop();
  return `${quoteLabel(p.label)}=${fields.join(';')}`;
}

export function formatPerfdata(list: readonly PerfDatum[]): string {
  return list.map(formatPerfDatum).join(' ');
}
