import v8 from "node:v8";

import type { Materializer } from "./types.js";

/** Views the bytes as a Buffer without copying, for Buffer's fast string decoding. */
function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function utf8(text: string): Uint8Array {
  return Buffer.from(text, "utf8");
}

/** String.prototype.isWellFormed is ES2024: Node 20 has it, the project's `lib` (ES2023) does not. */
function isWellFormed(text: string): boolean {
  return (text as unknown as { isWellFormed(): boolean }).isWellFormed();
}

export const noneMaterializer: Materializer<undefined> = {
  name: "weir.none",
  canHandle: (value) => value === undefined,
  dataType: () => "undefined",
  save: () => new Uint8Array(0),
  load: () => undefined,
};

export const stringMaterializer: Materializer<string> = {
  name: "weir.string",
  // A lone surrogate would turn into U+FFFD in UTF-8; such strings go to weir.json, whose
  // \u escapes keep them intact.
  canHandle: (value) => typeof value === "string" && isWellFormed(value),
  dataType: () => "string",
  save: utf8,
  load: (bytes) => asBuffer(bytes).toString("utf8"),
};

export const bytesMaterializer: Materializer<Uint8Array> = {
  name: "weir.bytes",
  canHandle: (value) => {
    // Exact classes only: a subclass would load back as a plain Uint8Array.
    const proto = value instanceof Uint8Array ? Object.getPrototypeOf(value) : undefined;
    return proto === Uint8Array.prototype || proto === Buffer.prototype;
  },
  dataType: (value) => (Buffer.isBuffer(value) ? "Buffer" : "Uint8Array"),
  // Saved as is: the bytes are written before the step's value can change.
  save: (value) => value,
  // Loaded as a copy, so mutating the value can't alter bytes a store hands out again.
  load: (bytes, dataType) => (dataType === "Buffer" ? Buffer.from(bytes) : new Uint8Array(bytes)),
};

type TypedArrayConstructor =
  | Int8ArrayConstructor
  | Uint8ClampedArrayConstructor
  | Int16ArrayConstructor
  | Uint16ArrayConstructor
  | Int32ArrayConstructor
  | Uint32ArrayConstructor
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | BigInt64ArrayConstructor
  | BigUint64ArrayConstructor;

type TypedArray = InstanceType<TypedArrayConstructor>;

const typedArrayConstructors: readonly TypedArrayConstructor[] = [
  Int8Array,
  Uint8ClampedArray,
  Int16Array,
  Uint16Array,
  Int32Array,
  Uint32Array,
  Float32Array,
  Float64Array,
  BigInt64Array,
  BigUint64Array,
];
const typedArrayByName = new Map(typedArrayConstructors.map((ctor) => [ctor.name, ctor]));
const typedArrayPrototypes = new Set<object>(typedArrayConstructors.map((ctor) => ctor.prototype));

export const typedArrayMaterializer: Materializer<TypedArray> = {
  name: "weir.typed_array",
  canHandle: (value) => ArrayBuffer.isView(value) && typedArrayPrototypes.has(Object.getPrototypeOf(value)),
  dataType: (value) => value.constructor.name,
  // The raw element bytes in the platform's byte order (little-endian on all common platforms).
  save: (value) => new Uint8Array(value.buffer, value.byteOffset, value.byteLength),
  load: (bytes, dataType) => {
    const ctor = typedArrayByName.get(dataType);
    if (ctor === undefined) throw new Error(`weir.typed_array cannot load data type "${dataType}"`);
    if (bytes.byteLength % ctor.BYTES_PER_ELEMENT !== 0) {
      throw new Error(`weir.typed_array: ${bytes.byteLength} bytes is not a whole number of ${dataType} elements`);
    }
    // Copied into a fresh buffer: it is aligned for the element size, and owned by the value.
    return new ctor(new Uint8Array(bytes).buffer);
  },
};

/**
 * True if JSON.stringify + JSON.parse gives back an equal value (except -0, which becomes 0).
 * One walk over the value; JSON.stringify then does the only other pass, natively. Cycles
 * are caught by tracking the objects on the current path (a shared, acyclic reference is fine)
 * on one stack shared by every call: checking a step's output allocates nothing.
 */
function isJsonValue(value: unknown): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value);
    case "object": {
      if (value === null) return true;
      if (path.includes(value)) return false;
      const proto = Object.getPrototypeOf(value);
      path.push(value);
      let ok = true;
      try {
        if (proto === Array.prototype) {
          const array = value as unknown[];
          // A hole reads as undefined, so sparse arrays are rejected here too.
          for (let i = 0; ok && i < array.length; i++) ok = isJsonValue(array[i]);
        } else if (proto === Object.prototype || proto === null) {
          const object = value as Record<string, unknown>;
          for (const key in object) {
            if (!isJsonValue(object[key])) {
              ok = false;
              break;
            }
          }
          // Symbol keys would silently disappear.
          ok &&= Object.getOwnPropertySymbols(object).length === 0;
        } else {
          ok = false;
        }
      } finally {
        path.pop();
      }
      return ok;
    }
    default:
      return false;
  }
}
/** The objects isJsonValue is inside of, outermost first. */
const path: object[] = [];

export const jsonMaterializer: Materializer = {
  name: "weir.json",
  canHandle: (value) => isJsonValue(value),
  dataType: (value) => (value === null ? "null" : Array.isArray(value) ? "array" : typeof value),
  save: (value) => utf8(JSON.stringify(value)),
  load: (bytes) => JSON.parse(asBuffer(bytes).toString("utf8")),
};

/** Prototypes of the leaf objects v8 serializes faithfully (it keeps their exact class). */
const structuredLeafNames = new Map<object, string>([
  [Date.prototype, "Date"],
  [RegExp.prototype, "RegExp"],
  [ArrayBuffer.prototype, "ArrayBuffer"],
  [DataView.prototype, "DataView"],
  [Uint8Array.prototype, "Uint8Array"],
  [Buffer.prototype, "Buffer"],
  ...typedArrayConstructors.map((ctor): [object, string] => [ctor.prototype, ctor.name]),
]);

/**
 * True if v8.serialize keeps the value's shape. v8 itself refuses functions and symbols but
 * turns any class instance into a plain object, so only built-in classes are let through.
 * `seen` holds every object visited: v8 keeps cycles and shared references, so each object
 * only needs checking once.
 */
function isStructuredValue(value: unknown, seen: Set<object>): boolean {
  if (typeof value === "function" || typeof value === "symbol") return false;
  if (typeof value !== "object" || value === null) return true;
  if (seen.has(value)) return true;
  seen.add(value);
  const proto = Object.getPrototypeOf(value);
  if (structuredLeafNames.has(proto)) return true;
  if (proto === Array.prototype) {
    const array = value as unknown[];
    for (let i = 0; i < array.length; i++) if (!isStructuredValue(array[i], seen)) return false;
    return true;
  }
  if (proto === Map.prototype) {
    for (const [key, item] of value as Map<unknown, unknown>) {
      if (!isStructuredValue(key, seen) || !isStructuredValue(item, seen)) return false;
    }
    return true;
  }
  if (proto === Set.prototype) {
    for (const item of value as Set<unknown>) if (!isStructuredValue(item, seen)) return false;
    return true;
  }
  if (proto === Object.prototype || proto === null) {
    const object = value as Record<string, unknown>;
    for (const key in object) if (!isStructuredValue(object[key], seen)) return false;
    return Object.getOwnPropertySymbols(object).length === 0;
  }
  return false;
}

export const structuredMaterializer: Materializer = {
  name: "weir.structured",
  canHandle: (value) => isStructuredValue(value, new Set()),
  dataType: (value) => {
    if (typeof value !== "object") return typeof value;
    if (value === null) return "null";
    const proto = Object.getPrototypeOf(value);
    if (proto === Array.prototype) return "array";
    if (proto === Map.prototype) return "Map";
    if (proto === Set.prototype) return "Set";
    return structuredLeafNames.get(proto) ?? "object";
  },
  save: (value) => v8.serialize(value),
  // Deserialized typed arrays are views into the input; a private copy keeps them from
  // sharing memory with bytes a store may hand out again.
  load: (bytes) => v8.deserialize(Buffer.from(bytes)),
};

/** In the order the registry tries them: most specific first. */
export const builtinMaterializers: readonly Materializer[] = [
  noneMaterializer,
  stringMaterializer,
  bytesMaterializer,
  typedArrayMaterializer,
  jsonMaterializer,
  structuredMaterializer,
];
