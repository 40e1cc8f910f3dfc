import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { HealthRecord, OperationalState } from './health/backend-health.ts';
import { readTextFile, unreadableReason } from '../plugins/runtime/read-file.ts';

/** Far beyond what 100,000 backends take; a bigger state file is not ours. */
const MAX_STATE_BYTES = 64 * 1024 * 1024;

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

  /** A file that is missing starts fresh silently; one that cannot be used starts fresh and says why (unusable). */
  load(unusable: (reason: string) => void = () => undefined): Map<string, PersistedBackend> {
    if (!this.file) return new Map();
    let text: string;
    try {
      text = readTextFile(this.file, MAX_STATE_BYTES);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') unusable(`cannot read: ${unreadableReason(error)}`);
      return new Map();
    }
    let data: { version?: number; backends?: Record<string, PersistedBackend> } | null;
    try {
      data = JSON.parse(text) as typeof data;
    } catch {
      unusable('not JSON (truncated or corrupt)');
      return new Map();
    }
    if (data?.version !== 1 || typeof data.backends !== 'object' || data.backends === null) {
      unusable('not a version 1 state file');
      return new Map();
    }
    const valid = Object.entries(data.backends).filter(([, b]) => ['up', 'down', 'rising', 'falling'].includes(b?.state));
    return new Map(valid.map(([key, b]) => [key, { state: b.state, maintenance: b.maintenance === true }]));
  }

  save(health: ReadonlyMap<string, HealthRecord>): void {
    if (!this.file) return;
    const backends: Record<string, PersistedBackend> = {};
    for (const [key, record] of health) if (!record.fresh) backends[key] = { state: record.state, maintenance: record.maintenance };
    mkdirSync(dirname(this.file), { recursive: true });
    const temp = `${this.file}.${process.pid}.tmp`;
    writeFileSync(temp, JSON.stringify({ version: 1, savedAt: new Date().toISOString(), backends }, null, 1));
    try {
      renameSync(temp, this.file);
    } catch (error) {
      rmSync(temp, { force: true });
      throw error;
    }
  }
}
