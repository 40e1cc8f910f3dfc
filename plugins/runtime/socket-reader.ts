import type { Socket } from 'node:net';

export type WaitResult = 'data' | 'end' | 'idle';

/**
 * Collects what a server sends, up to `maxBytes`: past that the socket is paused, so a hostile peer
 * cannot make the check buffer a megabyte banner. Callers look at `buffer` after each wait.
 */
export class SocketReader {
  private data = Buffer.alloc(0);
  private finished: Error | 'end' | undefined;
  private wake: (() => void) | undefined;
  private readonly onData = (chunk: Buffer) => {
    const room = this.maxBytes - this.data.length;
    this.data = Buffer.concat([this.data, room < chunk.length ? chunk.subarray(0, room) : chunk]);
    if (this.data.length >= this.maxBytes) this.socket.pause();
    this.notify();
  };
  private readonly onEnd = () => {
    this.finished ??= 'end';
    this.notify();
  };
  private readonly onError = (error: Error) => {
    this.finished ??= error;
    this.notify();
  };

  constructor(private readonly socket: Socket, readonly maxBytes: number) {
    socket.on('data', this.onData).on('end', this.onEnd).on('close', this.onEnd).on('error', this.onError);
  }

  get buffer(): Buffer {
    return this.data;
  }

  get full(): boolean {
    return this.data.length >= this.maxBytes;
  }

  /** Drops the first `bytes` bytes (already consumed by the caller). */
  consume(bytes: number): void {
    this.data = this.data.subarray(bytes);
    if (!this.full && this.socket.isPaused()) this.socket.resume();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  /**
   * Waits for more bytes, the end of the stream, or `idleMs` of silence. Rejects when the signal
   * aborts or the socket fails. With data already past the cap it returns 'data' at once.
   */
  async waitForMore(signal: AbortSignal, idleMs?: number): Promise<WaitResult> {
    if (this.finished instanceof Error) throw this.finished;
    if (this.finished === 'end') return 'end';
    const before = this.data.length;
    return new Promise<WaitResult>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const done = (result: WaitResult | Error) => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        this.wake = undefined;
        if (result instanceof Error) reject(result);
        else resolve(result);
      };
      const onAbort = () => done(signal.reason instanceof Error ? signal.reason : new Error('aborted'));
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      if (idleMs !== undefined) timer = setTimeout(() => done('idle'), idleMs);
      this.wake = () => {
        if (this.finished instanceof Error) done(this.finished);
        else if (this.data.length > before) done('data');
        else if (this.finished === 'end') done('end');
      };
      if (this.socket.isPaused() && !this.full) this.socket.resume();
    });
  }

  /** Stops collecting and hands back what is buffered; the socket is left paused for a new owner. */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.onData).off('end', this.onEnd).off('close', this.onEnd).off('error', this.onError);
    return this.data;
  }
}
