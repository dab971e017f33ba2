/**
 * Group commit for small values: values saved while an upload is in flight are gathered into
 * the next pack object, so N concurrent saves cost about one PUT per PUT latency instead of
 * N PUTs. Nothing waits on a timer: a lone save is uploaded on the next turn of the event
 * loop, so a sequential caller pays one PUT per value, as it would without packing.
 *
 * Each save resolves only after the PUT of its pack succeeded (the bytes are durable), and
 * rejects with that PUT's error otherwise; a pack that failed is never referenced.
 */

/** At most this many packs of one batcher are uploaded at once; later values wait and pack together. */
const MAX_IN_FLIGHT = 2;

/** A pack is sealed once it holds this many bytes, even while uploads are in flight. */
const PACK_TARGET_BYTES = 8 * 1024 * 1024;

interface Pack {
  key: string;
  chunks: Uint8Array[];
  size: number;
  done: Promise<void>;
  resolve(): void;
  reject(error: unknown): void;
}

export class PackBatcher {
  private open: Pack | undefined;
  private readonly sealed: Pack[] = [];
  private inFlight = 0;
  private scheduled = false;

  /**
   * @param newKey the object key of the next pack (unique per pack)
   * @param upload stores one pack object; resolves once it is durable
   * @param idle called when nothing is buffered or in flight (the owner may drop this batcher)
   */
  constructor(
    private readonly newKey: () => string,
    private readonly upload: (key: string, body: Uint8Array[], size: number) => Promise<void>,
    private readonly idle: () => void,
  ) {}

  /** Adds a value to the current pack; resolves to its object key and offset once the pack is stored. */
  async add(bytes: Uint8Array): Promise<{ key: string; offset: number }> {
    const pack = (this.open ??= this.newPack());
    const offset = pack.size;
    pack.chunks.push(bytes);
    pack.size += bytes.byteLength;
    if (pack.size >= PACK_TARGET_BYTES) {
      this.sealed.push(pack);
      this.open = undefined;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      // Saves made in this turn of the event loop go into the same pack.
      setImmediate(() => {
        this.scheduled = false;
        this.pump();
      });
    }
    await pack.done;
    return { key: pack.key, offset };
  }

  private pump(): void {
    while (this.inFlight < MAX_IN_FLIGHT) {
      const pack = this.sealed.shift() ?? this.open;
      if (!pack) break;
      if (pack === this.open) this.open = undefined;
      this.inFlight++;
      this.upload(pack.key, pack.chunks, pack.size)
        .then(pack.resolve, pack.reject)
        .finally(() => {
          this.inFlight--;
          this.pump();
          if (this.inFlight === 0 && !this.open && this.sealed.length === 0 && !this.scheduled) this.idle();
        });
    }
  }

  private newPack(): Pack {
    let resolve!: () => void;
    let reject!: (error: unknown) => void;
    const done = new Promise<void>((ok, fail) => {
      resolve = ok;
      reject = fail;
    });
    return { key: this.newKey(), chunks: [], size: 0, done, resolve, reject };
  }
}
