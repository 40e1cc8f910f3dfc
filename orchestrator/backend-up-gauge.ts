export type BackendLabels = { readonly farm: string; readonly backend: string };

/** prom-client's escaping of a label value in the text format */
function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

/**
 * lbguard_backend_up, one sample per backend, kept as the text lines of the exposition format:
 * a line is written when its backend's value changes (a transition), and a scrape joins them
 * once per change. prom-client formats every sample at every scrape: 10,000 backends held the
 * daemon's loop 30-60 ms per scrape (measured), and checks waited behind it.
 * It stays out of prom-client's registry: metrics.ts's exposition() writes it after the registry's.
 */
export class BackendUpGauge {
  readonly name = 'lbguard_backend_up';
  readonly help = '1 when the backend takes new sessions';
  readonly type = 'gauge';
  private readonly samples = new Map<string, { readonly value: number; readonly line: string }>();
  private text: string | undefined;

  set(labels: BackendLabels, value: number): void {
    const key = `${labels.farm}\u0000${labels.backend}`;
    if (this.samples.get(key)?.value === value) return;
    const line = `${this.name}{farm="${escapeLabel(labels.farm)}",backend="${escapeLabel(labels.backend)}"} ${value}`;
    this.samples.set(key, { value, line });
    this.text = undefined;
  }

  reset(): void {
    this.samples.clear();
    this.text = undefined;
  }

  /** HELP, TYPE and every sample, as prom-client writes a metric (no newline at the end) */
  exposition(): string {
    if (this.text === undefined) {
      const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
      for (const sample of this.samples.values()) lines.push(sample.line);
      this.text = lines.join('\n');
    }
    return this.text;
  }

  /** the value of one backend's sample, undefined when it has none */
  value(labels: BackendLabels): number | undefined {
    return this.samples.get(`${labels.farm}\u0000${labels.backend}`)?.value;
  }
}
