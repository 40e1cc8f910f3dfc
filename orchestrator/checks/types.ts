import type { Verdict } from '../health/backend-health.ts';

/** Runs one backend's check once, within its deadline, and says whether the backend may serve. */
export type BackendCheck = (signal: AbortSignal) => Promise<Verdict>;

/** Where a backend is checked: its address and the port its check uses. */
export interface CheckTarget {
  readonly address: string;
  readonly port: number;
}
