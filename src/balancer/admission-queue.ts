/**
 * A bounded FIFO of requests waiting for a free slot. Removal of a waiter from the middle
 * (timeout, client gone) is O(n), but the queue is short in practice and removal is rare
 * next to the O(1) push and shift the busy path uses.
 */
export class AdmissionQueue<T> {
  readonly #capacity: number;
  #items: T[] = [];
  #head = 0;

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  get full(): boolean {
    return this.length >= this.#capacity;
  }

  /** Adds at the tail; false when full. */
  push(item: T): boolean {
    if (this.full) return false;
    this.#items.push(item);
    return true;
  }

  /** Adds at the head, past the bound: a retry has been admitted once already. */
  unshift(item: T): void {
    if (this.#head > 0) {
      this.#head -= 1;
      this.#items[this.#head] = item;
    } else {
      this.#items.unshift(item);
    }
  }

  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const item = this.#items[this.#head] as T;
    // Drop the reference at once: a finished request must not stay reachable from here.
    this.#items[this.#head] = undefined as T;
    this.#head += 1;
    if (this.#head === this.#items.length) {
      this.#items = [];
      this.#head = 0;
    } else if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      // Compact now and then so the array does not grow without bound.
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  /** The item `index` places behind the head. */
  at(index: number): T | undefined {
    return this.#head + index < this.#items.length ? this.#items[this.#head + index] : undefined;
  }

  /** Takes out the item `index` places behind the head. */
  removeAt(index: number): T | undefined {
    if (index === 0) return this.shift();
    const [item] = this.#items.splice(this.#head + index, 1);
    return item;
  }

  remove(item: T): boolean {
    const at = this.#items.indexOf(item, this.#head);
    if (at < 0) return false;
    this.#items.splice(at, 1);
    return true;
  }
}
