// API keys come from a file (first line) or the environment: never the command line, never a log line.
import { readTextFile, unreadableReason } from '../plugins/runtime/read-file.ts';

/** A key is a line; a key file this big is not one (and is not read to its end). */
const MAX_KEY_FILE_BYTES = 64 * 1024;

export function readApiKey(what: string, keyFile: string | undefined, envName: string, env: NodeJS.ProcessEnv = process.env): string {
  if (keyFile) {
    let text: string;
    try {
      text = readTextFile(keyFile, MAX_KEY_FILE_BYTES);
    } catch (error) {
      throw new Error(`cannot read the ${what} key file ${keyFile}: ${unreadableReason(error)}`);
    }
    // the first line: the key, or a `Key: KEY` header line as curl -H @FILE takes it
    const key = text.split('\n')[0]!.trim().replace(/^Key:\s*/i, '');
    if (!key) throw new Error(`the ${what} key file ${keyFile} is empty`);
    return key;
  }
  const key = env[envName];
  if (!key) throw new Error(`no ${what} API key: set key-file in the dataplane settings or ${envName} in the environment`);
  return key;
}
