/**
 * Ranged reads of packed artifacts asked for in the same turn of the event loop are merged:
 * reads of one pack whose ranges lie close together become one GET of the span covering
 * them, so a step loading many small inputs from one pack pays about one request, not one
 * per input. A lone read is a GET of its own range, as without merging.
 */

/** Ranges at most this far apart are read in one GET (the bytes between are read and dropped). */
const MAX_GAP_BYTES = 64 * 1024;

/** A merged GET covers at most this many bytes. */
const MAX_SPAN_BYTES = 8 * 1024 * 1024;

interface PendingRead {
  uri: string;
  offset: number;
  length: number;
  resolve(bytes: Uint8Array): void;
  reject(error: unknown): void;
}

/** The bytes a GET of `[start, end)` returned, and where they begin (servers may return more). */
export type FetchRange = (object: string, start: number, end: number) => Promise<{ bytes: Uint8Array; start: number }>;

export class ReadCoalescer {
  private pending = new Map<string, PendingRead[]>();
  private scheduled = false;

  /**
   * @param fetchRange one ranged GET
   * @param failure the error a read of `uri` rejects with when its GET failed
   */
  constructor(
    private readonly fetchRange: FetchRange,
    private readonly failure: (error: unknown, uri: string) => Error,
  ) {}

  read(uri: string, object: string, offset: number, length: number): Promise<Uint8Array> {
    return new Promise((resolve, reject) => {
      const reads = this.pending.get(object) ?? [];
      reads.push({ uri, offset, length, resolve, reject });
      this.pending.set(object, reads);
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    const pending = this.pending;
    this.pending = new Map();
    this.scheduled = false;
    for (const [object, reads] of pending) {
      reads.sort((a, b) => a.offset - b.offset);
      let span: PendingRead[] = [];
      let spanEnd = 0;
      for (const read of reads) {
        const end = read.offset + read.length;
        if (span.length > 0 && (read.offset - spanEnd > MAX_GAP_BYTES || Math.max(end, spanEnd) - span[0].offset > MAX_SPAN_BYTES)) {
          void this.fetchSpan(object, span, spanEnd);
          span = [];
        }
        if (span.length === 0) spanEnd = end;
        span.push(read);
        spanEnd = Math.max(spanEnd, end);
      }
      if (span.length > 0) void this.fetchSpan(object, span, spanEnd);
    }
  }

  private async fetchSpan(object: string, reads: PendingRead[], end: number): Promise<void> {
    let fetched: { bytes: Uint8Array; start: number };
    try {
      fetched = await this.fetchRange(object, reads[0].offset, end);
    } catch (error) {
      for (const read of reads) read.reject(this.failure(error, read.uri));
      return;
    }
    const { bytes, start } = fetched;
    for (const read of reads) {
      const from = read.offset - start;
      const got = Math.max(0, Math.min(read.length, bytes.byteLength - from));
      if (from < 0 || got !== read.length) read.reject(new Error(`artifact ${read.uri} is truncated: ${got} of ${read.length} bytes`));
      // A copy when merged: each value owns its bytes, and the span is freed at once.
      else read.resolve(reads.length === 1 ? bytes.subarray(from, from + read.length) : bytes.slice(from, from + read.length));
    }
  }
}
