/**
 * A materializer turns one kind of value into bytes and back. The registry picks the
 * first materializer whose `canHandle` accepts a value: user-registered ones first,
 * then the built-ins (most specific first).
 */
export interface Materializer<T = unknown> {
  /** Stable name recorded with every artifact version, used to load it again. */
  readonly name: string;
  canHandle(value: unknown): boolean;
  /** A short, readable name of the value's type (`string`, `Map`, `Float64Array`, `MyModel`). */
  dataType(value: T): string;
  save(value: T): Uint8Array;
  load(bytes: Uint8Array, dataType: string): T;
}
