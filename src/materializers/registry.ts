import { builtinMaterializers } from "./builtin.js";
import type { Materializer } from "./types.js";

export class MaterializerRegistry {
  /** User materializers, newest first. */
  private readonly user: Materializer[] = [];
  /** The order `forValue` tries: user ones, then the built-ins no user one replaced. */
  private ordered: readonly Materializer[] = builtinMaterializers;
  private readonly byNameMap = new Map<string, Materializer>(builtinMaterializers.map((m) => [m.name, m]));

  /** Adds `materializer` ahead of all others; one with the same name (even a built-in) is replaced. */
  register(materializer: Materializer): void {
    const previous = this.user.findIndex((m) => m.name === materializer.name);
    if (previous !== -1) this.user.splice(previous, 1);
    this.user.unshift(materializer);
    this.byNameMap.set(materializer.name, materializer);
    this.ordered = [...this.user, ...builtinMaterializers.filter((m) => this.byNameMap.get(m.name) === m)];
  }

  /** The first materializer that accepts `value`, or undefined if none does. */
  forValue(value: unknown): Materializer | undefined {
    for (const materializer of this.ordered) if (materializer.canHandle(value)) return materializer;
    return undefined;
  }

  byName(name: string): Materializer {
    const materializer = this.byNameMap.get(name);
    if (materializer === undefined) {
      throw new Error(`no materializer named ${name} is registered; register it with registerMaterializer before loading`);
    }
    return materializer;
  }

  /** Names in the order `forValue` tries them. */
  names(): string[] {
    return this.ordered.map((m) => m.name);
  }
}

// Kept on globalThis so that two copies of this module in one process (e.g. a bundled and
// an installed weir) share the registrations.
const REGISTRY_KEY = Symbol.for("weir.materializers");

/** The process-wide registry that `registerMaterializer` adds to. */
export function defaultMaterializers(): MaterializerRegistry {
  const slot = globalThis as { [REGISTRY_KEY]?: MaterializerRegistry };
  return (slot[REGISTRY_KEY] ??= new MaterializerRegistry());
}

/**
 * Registers a materializer for instances of a user class (subclasses included) on the
 * process-wide registry. It wins over the built-ins, which would otherwise reject the
 * instance. `save` may return a string, stored as UTF-8.
 */
export function registerMaterializer<T>(spec: {
  name: string;
  type: abstract new (...args: any[]) => T;
  save(value: T): Uint8Array | string;
  load(bytes: Uint8Array): T;
}): void {
  defaultMaterializers().register({
    name: spec.name,
    canHandle: (value) => value instanceof spec.type,
    dataType: () => spec.type.name,
    save: (value) => {
      const saved = spec.save(value as T);
      if (typeof saved === "string") return Buffer.from(saved, "utf8");
      if (saved instanceof Uint8Array) return saved;
      throw new Error(`materializer ${spec.name}: save must return a Uint8Array or a string, got ${describeType(saved)}`);
    },
    load: (bytes) => spec.load(bytes),
  });
}

/** A readable name for the type of `value`, for error messages (`function`, `Promise`, `MyModel`, …). */
export function describeType(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto === null || proto === Object.prototype) return "object";
  if (proto === Array.prototype) return "array";
  const name: unknown = (proto as { constructor?: { name?: unknown } }).constructor?.name;
  if (typeof name === "string" && name !== "") return name;
  // Anonymous classes and odd prototypes: fall back to the built-in tag (usually "Object").
  return `instance of an anonymous class (${Object.prototype.toString.call(value).slice(8, -1)})`;
}
