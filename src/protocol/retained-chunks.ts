/** A slab starts small (most streams are a few small records) and doubles up to this. */
const MAX_SLAB_BYTES = 16 * 1024;
const MIN_SLAB_BYTES = 1024;
/** Views smaller than this are copied anyway: a kept view costs an object besides its bytes. */
const MIN_KEPT_VIEW = 1024;

/**
 * Bytes kept from a client's socket reads, counted by the memory they keep alive. A decoded
 * record is a view into the read it came in, and a view keeps its whole buffer alive: a
 * one-byte record that arrived in a 64 KiB read holds 64 KiB. So a view is kept only when it
 * is most of its buffer (then its whole buffer is counted); smaller ones are copied into slabs
 * of our own, where thousands of tiny records cost what they hold, not one read each.
 */
export class RetainedChunks {
  /** Complete pieces, in order: kept views, and closed stretches of slabs. */
  #sealed: Buffer[] = [];
  #slab: Buffer | null = null;
  /** The open stretch of the slab, not yet in `#sealed`: [#slabStart, #slabFill). */
  #slabStart = 0;
  #slabFill = 0;
  #size = 0;
  #retained = 0;

  /** Bytes received. */
  get size(): number {
    return this.#size;
  }

  /** Bytes of memory the kept chunks hold (whole buffers of kept views, whole slabs). */
  get retained(): number {
    return this.#retained;
  }

  push(chunk: Buffer): void {
    const length = chunk.length;
    if (length === 0) return;
    this.#size += length;
    if (length >= MIN_KEPT_VIEW && length * 2 >= chunk.buffer.byteLength) {
      this.#sealOpenStretch();
      this.#sealed.push(chunk);
      this.#retained += chunk.buffer.byteLength;
      return;
    }
    if (length > MAX_SLAB_BYTES) {
      // Too big for a slab, too small a part of its read to keep: a copy of its own.
      this.#sealOpenStretch();
      const copy = Buffer.allocUnsafeSlow(length);
      chunk.copy(copy);
      this.#sealed.push(copy);
      this.#retained += length;
      return;
    }
    this.#copyToSlab(chunk);
  }

  /** The bytes in order, as views that stay valid until `clear`. */
  chunks(): Buffer[] {
    const open = this.#openStretch();
    return open === null ? this.#sealed.slice() : [...this.#sealed, open];
  }

  /** The bytes as one buffer: the single piece when there is one, else a copy. */
  concat(): Buffer {
    const parts = this.chunks();
    if (parts.length === 1) return parts[0] as Buffer;
    return Buffer.concat(parts, this.#size);
  }

  /** Lets go of every byte. */
  clear(): void {
    this.#sealed = [];
    this.#slab = null;
    this.#slabStart = 0;
    this.#slabFill = 0;
    this.#size = 0;
    this.#retained = 0;
  }

  #copyToSlab(chunk: Buffer): void {
    let slab = this.#slab;
    if (slab === null || slab.length - this.#slabFill < chunk.length) {
      this.#sealOpenStretch();
      const previous = slab?.length ?? MIN_SLAB_BYTES / 2;
      const capacity = Math.max(chunk.length, Math.min(previous * 2, MAX_SLAB_BYTES));
      // Not from node's shared pool: a slab must cost exactly its own size.
      slab = Buffer.allocUnsafeSlow(capacity);
      this.#slab = slab;
      this.#slabStart = 0;
      this.#slabFill = 0;
      this.#retained += capacity;
    }
    chunk.copy(slab, this.#slabFill);
    this.#slabFill += chunk.length;
  }

  #openStretch(): Buffer | null {
    if (this.#slab === null || this.#slabFill === this.#slabStart) return null;
    return this.#slab.subarray(this.#slabStart, this.#slabFill);
  }

  #sealOpenStretch(): void {
    const open = this.#openStretch();
    if (open === null) return;
    this.#sealed.push(open);
    this.#slabStart = this.#slabFill;
  }
}
