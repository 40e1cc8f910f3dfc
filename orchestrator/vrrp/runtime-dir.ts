import { mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';

/** /run/lbguard when lbguard may write there (root), else the temporary directory. */
export function runtimeRoot(): string {
  try {
    mkdirSync('/run/lbguard', { recursive: true, mode: 0o700 });
    return '/run/lbguard';
  } catch {
    return tmpdir();
  }
}
