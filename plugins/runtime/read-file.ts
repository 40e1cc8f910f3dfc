import { closeSync, constants, fstatSync, openSync, readSync, type Stats } from 'node:fs';

/** Why a path given to lbguard is not a file it will read, in an operator's words. */
export class UnreadableFile extends Error {
  override name = 'UnreadableFile';
}

function kindOf(stat: Stats): string {
  if (stat.isDirectory()) return 'a directory';
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice() || stat.isBlockDevice()) return 'a device';
  if (stat.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Reads a small file that lbguard owns or an operator named (farms file, state file, key, identity,
 * CA, ini file): a regular file of at most maxBytes. A FIFO, /dev/zero, a directory or a file that
 * grows while read is refused with the reason (UnreadableFile); a missing file throws the usual
 * ENOENT error. Never blocks on a FIFO without a writer. `accept` may refuse the file on its
 * stat (owner, mode) by throwing an UnreadableFile.
 */
export function readSmallFile(file: string, maxBytes: number, accept?: (stat: Stats) => void): Buffer {
  const fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw new UnreadableFile(`${kindOf(stat)}, not a regular file`);
    // judged on the descriptor that is read, not on a path that could be swapped in between
    accept?.(stat);
    if (stat.size > maxBytes) throw new UnreadableFile(`${stat.size} bytes, more than the ${maxBytes} allowed`);
    // one byte more than announced: a file still growing is refused, not read without end
    const buffer = Buffer.alloc(stat.size + 1);
    let length = 0;
    for (let n; length < buffer.length && (n = readSync(fd, buffer, length, buffer.length - length, null)) > 0;) length += n;
    if (length > stat.size) throw new UnreadableFile('grew while it was read');
    return buffer.subarray(0, length);
  } finally {
    closeSync(fd);
  }
}

/** readSmallFile, then UTF-8 text: binary content is refused too. */
export function readTextFile(file: string, maxBytes: number, accept?: (stat: Stats) => void): string {
  const bytes = readSmallFile(file, maxBytes, accept);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UnreadableFile('not UTF-8 text');
  }
}

/** The reason a file could not be read, for a message: ENOENT, EACCES, or UnreadableFile's words. */
export function unreadableReason(error: unknown): string {
  return (error as NodeJS.ErrnoException).code ?? (error as Error).message;
}
