import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { HealthRecord, OperationalState } from './health/backend-health.ts';

export interface PersistedBackend {
  readonly state: OperationalState;
  readonly maintenance: boolean;
}

/**
 * Last known backend states, so that a restart reuses them until fresh verdicts arrive instead of
 * pulling every backend out and putting it back. Written atomically (temp file + rename).
 */
export class StateStore {
  constructor(readonly file: string | undefined) {}

  load(): Map<string, PersistedBackend> {
    if (!this.file) return new Map();
    try {
      const data = JSON.parse(readFileSync(this.file, 'utf8')) as { version?: number; backends?: Record<string, PersistedBackend> };
      if (data.version !== 1 || typeof data.backends !== 'object' || data.backends === null) return new Map();
      const valid = Object.entries(data.backends).filter(([, b]) => ['up', 'down', 'rising', 'falling'].includes(b?.state));
      return new Map(valid.map(([key, b]) => [key, { state: b.state, maintenance: b.maintenance === true }]));
    } catch {
      return new Map();
    }
  }

  save(health: ReadonlyMap<string, HealthRecord>): void {
    if (!this.file) return;
    const backends: Record<string, PersistedBackend> = {};
    for (const [key, record] of health) if (!record.fresh) backends[key] = { state: record.state, maintenance: record.maintenance };
    mkdirSync(dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify({ version: 1, savedAt: new Date().toISOString(), backends }, null, 1));
    renameSync(temp, this.file);
  }
}
