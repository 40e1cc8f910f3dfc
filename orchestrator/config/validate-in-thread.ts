// What the farms-file thread loads once the file passed its cheap checks (load-worker.ts): the parser,
// the schema and the checks, and the data plane kinds from the composition root, since the thread
// validates the file as the CLI does.
import { DATAPLANE_KINDS } from '../dataplane-kinds.ts';
import type { Config } from './schema.ts';
import { validConfigFromText } from './semantics.ts';

export function validateInThread(file: string, text: string): Config {
  return validConfigFromText(file, text, DATAPLANE_KINDS);
}
