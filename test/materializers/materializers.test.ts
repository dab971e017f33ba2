import { describe, expect, it } from "vitest";

import { builtinMaterializers, typedArrayMaterializer } from "../../src/materializers/builtin.js";
import {
  MaterializerRegistry,
  defaultMaterializers,
  describeType,
  registerMaterializer,
} from "../../src/materializers/registry.js";

/** Saves `value` with the materializer the registry picks and loads it back from a copy of the bytes. */
function roundTrip(value: unknown, registry = new MaterializerRegistry()) {
  const materializer = registry.forValue(value);
  if (materializer === undefined) throw new Error(`no materializer for ${describeType(value)}`);
  const dataType = materializer.dataType(value);
  const bytes = materializer.save(value);
  const loaded = registry.byName(materializer.name).load(new Uint8Array(bytes), dataType);
  return { name: materializer.name, dataType, bytes, loaded };
}

describe("built-in materializers", () => {
  it("are tried in the documented order", () => {
    expect(new MaterializerRegistry().names()).toEqual([
      "weir.none",
      "weir.string",
      "weir.bytes",
      "weir.typed_array",
      "weir.json",
      "weir.structured",
    ]);
    expect(builtinMaterializers.map((m) => m.name)).toEqual(new MaterializerRegistry().names());
  });

  it.each([
    ["null", null, "null"],
    ["true", true, "boolean"],
    ["false", false, "boolean"],
    ["an integer", 42, "number"],
    ["a float", -1.5e-300, "number"],
    ["an array", [1, "two", [3, { four: null }]], "array"],
    ["an empty array", [], "array"],
    ["an object", { a: 1, b: [true, "x"], c: { d: { e: "deep" } } }, "object"],
    ["an empty object", {}, "object"],
    ["a null-prototype object", Object.assign(Object.create(null), { k: "v" }), "object"],
    ["a shared, acyclic reference", (() => { const s = { x: 1 }; return { a: s, b: [s] }; })(), "object"],
  ])("weir.json round-trips %s", (_label, value, dataType) => {
    const result = roundTrip(value);
    expect(result.name).toBe("weir.json");
    expect(result.dataType).toBe(dataType);
    expect(result.loaded).toEqual(value);
  });

  it("weir.json accepts -0 (loads back as 0)", () => {
    const result = roundTrip(-0);
    expect(result.name).toBe("weir.json");
    expect(result.loaded).toBe(0);
  });

  it("weir.none round-trips undefined, and only undefined, as empty bytes", () => {
    const result = roundTrip(undefined);
    expect(result).toMatchObject({ name: "weir.none", dataType: "undefined", loaded: undefined });
    expect(result.bytes.byteLength).toBe(0);
    expect(new MaterializerRegistry().forValue(null)?.name).toBe("weir.json");
  });

  it("weir.string stores raw UTF-8", () => {
    const text = "héllo wörld ✓ 🎉";
    const result = roundTrip(text);
    expect(result).toMatchObject({ name: "weir.string", dataType: "string", loaded: text });
    expect(Buffer.from(result.bytes).toString("utf8")).toBe(text);
    expect(roundTrip("").loaded).toBe("");
  });

  it("a string with a lone surrogate survives via weir.json", () => {
    const text = "broken \uD800 pair";
    const result = roundTrip(text);
    expect(result.name).toBe("weir.json");
    expect(result.loaded).toBe(text);
  });

  it("weir.bytes round-trips a Buffer as a Buffer and a Uint8Array as a Uint8Array", () => {
    const buffer = Buffer.from([0, 1, 2, 255]);
    const fromBuffer = roundTrip(buffer);
    expect(fromBuffer).toMatchObject({ name: "weir.bytes", dataType: "Buffer" });
    expect(Buffer.isBuffer(fromBuffer.loaded)).toBe(true);
    expect(fromBuffer.loaded).toEqual(buffer);

    // A view into a larger buffer keeps only its own bytes.
    const view = new Uint8Array([9, 9, 7, 8, 9, 9]).subarray(2, 4);
    const fromView = roundTrip(view);
    expect(fromView).toMatchObject({ name: "weir.bytes", dataType: "Uint8Array" });
    expect(Object.getPrototypeOf(fromView.loaded)).toBe(Uint8Array.prototype);
    expect(fromView.loaded).toEqual(new Uint8Array([7, 8]));
  });

  it("weir.bytes rejects Uint8Array subclasses", () => {
    class Tagged extends Uint8Array {}
    expect(new MaterializerRegistry().forValue(new Tagged(2))).toBeUndefined();
  });

  const elements = [-1, 0, 1, 2, 100];
  it.each([
    new Int8Array(elements),
    new Uint8ClampedArray(elements),
    new Int16Array(elements),
    new Uint16Array(elements),
    new Int32Array(elements),
    new Uint32Array(elements),
    new Float32Array([...elements, 0.5, NaN, -Infinity]),
    new Float64Array([...elements, Math.PI, NaN, Infinity, -0]),
    new BigInt64Array([-(2n ** 63n), -1n, 0n, 2n ** 63n - 1n]),
    new BigUint64Array([0n, 1n, 2n ** 64n - 1n]),
  ])("weir.typed_array stores %s as raw binary", (array) => {
    const result = roundTrip(array);
    expect(result.name).toBe("weir.typed_array");
    expect(result.dataType).toBe(array.constructor.name);
    expect(result.bytes.byteLength).toBe(array.length * array.BYTES_PER_ELEMENT);
    expect(Buffer.from(result.bytes).equals(Buffer.from(array.buffer, array.byteOffset, array.byteLength))).toBe(true);
    expect(result.loaded).toBeInstanceOf(array.constructor);
    expect(result.loaded).toEqual(array);
  });

  it("weir.typed_array loads from unaligned bytes", () => {
    const array = new Float64Array([1.25, -2.5]);
    const unaligned = new Uint8Array(array.byteLength + 1).subarray(1);
    unaligned.set(new Uint8Array(array.buffer));
    expect(typedArrayMaterializer.load(unaligned, "Float64Array")).toEqual(array);
  });

  it.each([
    ["a bigint", 2n ** 100n, "bigint"],
    ["NaN", NaN, "number"],
    ["Infinity", -Infinity, "number"],
    ["a Date", new Date("2024-05-06T07:08:09.010Z"), "Date"],
    ["a Map", new Map<unknown, unknown>([["a", 1], [2, { b: 3n }]]), "Map"],
    ["a Set", new Set([1, "two", 3n]), "Set"],
    ["a RegExp", /we+ir/giu, "RegExp"],
    ["an object with undefined values", { a: undefined, b: 1 }, "object"],
    ["an array containing undefined", [1, undefined, 3], "array"],
    ["an object with a date and a set of bigints", { when: new Date(0), ids: new Set([1n]) }, "object"],
    [
      "nested typed arrays and buffers",
      { weights: new Float32Array([0.5, 1.5]), raw: Buffer.from("raw"), bytes: new Uint8Array([1]), n: NaN },
      "object",
    ],
    ["a Map of arrays of Maps", new Map([["k", [new Map([[1n, new Date(5)]])]]]), "Map"],
  ])("weir.structured round-trips %s", (_label, value, dataType) => {
    const result = roundTrip(value);
    expect(result.name).toBe("weir.structured");
    expect(result.dataType).toBe(dataType);
    expect(result.loaded).toEqual(value);
  });

  it("weir.structured keeps nested Buffers as Buffers and cycles as cycles", () => {
    const value: { raw: Buffer; self?: unknown } = { raw: Buffer.from([1, 2]) };
    value.self = value;
    const result = roundTrip(value);
    expect(result.name).toBe("weir.structured");
    const loaded = result.loaded as typeof value;
    expect(Buffer.isBuffer(loaded.raw)).toBe(true);
    expect(loaded.self).toBe(loaded);
  });

  it.each([
    ["a function", () => 1],
    ["a symbol", Symbol("s")],
    ["an unregistered class instance", new (class Model {})()],
    ["a class instance deep inside an object", { a: [{ b: new Map([["c", new (class Deep {})()]]) }] }],
    ["a class instance inside a Set", new Set([new (class Inner {})()])],
    ["a function inside an object", { f: () => 1 }],
    ["an object with a symbol key", { [Symbol("k")]: 1 }],
    ["a Promise", Promise.resolve(1)],
    ["a WeakMap", new WeakMap()],
    ["an Error", new Error("boom")],
    ["an Array subclass", new (class List extends Array {})()],
  ])("nothing handles %s", (_label, value) => {
    expect(new MaterializerRegistry().forValue(value)).toBeUndefined();
  });

  it("weir.json rejects what JSON would change, leaving it to weir.structured", () => {
    const sparse = [1, , 3]; // eslint-disable-line no-sparse-arrays
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    const registry = new MaterializerRegistry();
    for (const value of [NaN, Infinity, [undefined], sparse, { a: undefined }, new Date(0), new Map(), cyclic]) {
      expect(registry.forValue(value)?.name).toBe("weir.structured");
    }
    expect(roundTrip(sparse).loaded).toEqual(sparse);
  });
});

describe("MaterializerRegistry", () => {
  class Point {
    constructor(
      readonly x: number,
      readonly y: number,
    ) {}
  }
  const pointMaterializer = {
    name: "test.point",
    canHandle: (value: unknown) => value instanceof Point,
    dataType: () => "Point",
    save: (value: unknown) => Buffer.from(JSON.stringify(value)),
    load: (bytes: Uint8Array) => {
      const { x, y } = JSON.parse(Buffer.from(bytes).toString("utf8"));
      return new Point(x, y);
    },
  };

  it("tries user materializers first, newest first, and replaces one of the same name", () => {
    const registry = new MaterializerRegistry();
    const everything = { ...pointMaterializer, name: "test.everything", canHandle: () => true };
    registry.register(pointMaterializer);
    registry.register(everything);
    expect(registry.forValue(new Point(1, 2))?.name).toBe("test.everything");
    expect(registry.names().slice(0, 3)).toEqual(["test.everything", "test.point", "weir.none"]);

    const replacement = { ...pointMaterializer, name: "test.everything", canHandle: () => false };
    registry.register(replacement);
    expect(registry.byName("test.everything")).toBe(replacement);
    expect(registry.forValue(new Point(1, 2))?.name).toBe("test.point");
    expect(registry.names().filter((name) => name === "test.everything")).toHaveLength(1);
  });

  it("lets a user materializer replace a built-in of the same name", () => {
    const registry = new MaterializerRegistry();
    const json = { ...pointMaterializer, name: "weir.json", canHandle: () => false };
    registry.register(json);
    expect(registry.byName("weir.json")).toBe(json);
    expect(registry.names().filter((name) => name === "weir.json")).toHaveLength(1);
    expect(registry.forValue({ a: 1 })?.name).toBe("weir.structured");
  });

  it("byName of an unknown name throws a clear error", () => {
    expect(() => new MaterializerRegistry().byName("acme.model")).toThrow(
      "no materializer named acme.model is registered; register it with registerMaterializer before loading",
    );
  });

  it("registerMaterializer adds a class materializer to the shared default registry that wins over built-ins", () => {
    // A plain-data subclass instance would otherwise be rejected, and an Array subclass too.
    class Vector extends Array<number> {}
    registerMaterializer({
      name: "test.vector",
      type: Vector,
      save: (value) => JSON.stringify([...value]),
      load: (bytes) => Vector.from(JSON.parse(Buffer.from(bytes).toString("utf8")) as number[]),
    });
    expect(defaultMaterializers()).toBe((globalThis as Record<symbol, unknown>)[Symbol.for("weir.materializers")]);
    expect(defaultMaterializers().names()[0]).toBe("test.vector");

    const vector = Vector.from([1, 2, 3]);
    const result = roundTrip(vector, defaultMaterializers());
    expect(result).toMatchObject({ name: "test.vector", dataType: "Vector" });
    expect(Buffer.from(result.bytes).toString("utf8")).toBe("[1,2,3]");
    expect(result.loaded).toBeInstanceOf(Vector);
    expect([...(result.loaded as Vector)]).toEqual([1, 2, 3]);
  });

  it("registerMaterializer round-trips a custom class with binary bytes", () => {
    registerMaterializer({
      name: "test.point.binary",
      type: Point,
      save: (point) => new Uint8Array(new Float64Array([point.x, point.y]).buffer),
      load: (bytes) => {
        const [x, y] = new Float64Array(new Uint8Array(bytes).buffer);
        return new Point(x, y);
      },
    });
    const result = roundTrip(new Point(1.5, -2), defaultMaterializers());
    expect(result.name).toBe("test.point.binary");
    expect(result.bytes.byteLength).toBe(16);
    expect(result.loaded).toEqual(new Point(1.5, -2));
    expect(result.loaded).toBeInstanceOf(Point);
  });
});

describe("describeType", () => {
  it.each([
    [() => 1, "function"],
    [Symbol("s"), "symbol"],
    [null, "null"],
    [undefined, "undefined"],
    [1n, "bigint"],
    [{}, "object"],
    [[], "array"],
    [Promise.resolve(), "Promise"],
    [new Map(), "Map"],
    [new (class Model {})(), "Model"],
  ])("describes %s as %s", (value, expected) => {
    expect(describeType(value)).toBe(expected);
  });
});
