// The import walls of src/ (issue 11): folders form layers without cycles, the Client (and
// the server) never load the engine, and the wiring of backends (presets/) is imported
// only by the program entry points. Parsed with TypeScript's own API: a file's runtime
// imports are those left in its emitted JavaScript (TypeScript drops imports used only as
// types), its declared imports are all `import`/`export … from`/`import()` specifiers.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import { describe, expect, it } from "vitest";

const SRC = resolve(fileURLToPath(new URL("../../src", import.meta.url)));

interface SourceFile {
  /** Path under src/, e.g. `engine/orchestrate.ts`. */
  path: string;
  declared: string[];
  runtime: string[];
}

function sourceFiles(dir = SRC): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Relative specifiers of a module's text, resolved to paths under src/. */
function localImports(file: string, text: string): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((f) => f.fileName)
    .filter((spec) => spec.startsWith("."))
    .map((spec) => relative(SRC, resolve(dirname(file), spec.replace(/\.js$/, ".ts"))));
}

function parse(file: string): SourceFile {
  const text = readFileSync(file, "utf8");
  const emitted = ts.transpileModule(text, {
    compilerOptions: { module: ts.ModuleKind.NodeNext, target: ts.ScriptTarget.ES2022 },
    fileName: file,
  }).outputText;
  return { path: relative(SRC, file), declared: localImports(file, text), runtime: localImports(file, emitted) };
}

/** The unit a file belongs to: its top folder under src/ (top-level files are units of their own). */
function unitOf(path: string): string {
  const parts = path.split("/");
  return parts.length === 1 ? parts[0].replace(/\.ts$/, "") : parts[0];
}

/** A cycle in a directed graph as its nodes in order, or undefined. */
export function findCycle(edges: Map<string, Set<string>>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  const path: string[] = [];
  const visit = (node: string): string[] | undefined => {
    if (state.get(node) === "done") return undefined;
    if (state.get(node) === "open") return [...path.slice(path.indexOf(node)), node];
    state.set(node, "open");
    path.push(node);
    for (const next of edges.get(node) ?? []) {
      const cycle = visit(next);
      if (cycle) return cycle;
    }
    path.pop();
    state.set(node, "done");
    return undefined;
  };
  for (const node of edges.keys()) {
    const cycle = visit(node);
    if (cycle) return cycle;
  }
  return undefined;
}

const files = sourceFiles().map(parse);
const byPath = new Map(files.map((f) => [f.path, f]));

/** The file-level imports that make up each unit-level edge, for messages. */
function unitGraph(kind: "declared" | "runtime") {
  const edges = new Map<string, Set<string>>();
  const why = new Map<string, string[]>();
  for (const file of files) {
    const from = unitOf(file.path);
    if (!edges.has(from)) edges.set(from, new Set());
    for (const target of file[kind]) {
      const to = unitOf(target);
      if (to === from) continue;
      edges.get(from)!.add(to);
      why.set(`${from}>${to}`, [...(why.get(`${from}>${to}`) ?? []), `${file.path} → ${target}`]);
    }
  }
  return { edges, why };
}

/** Every file a file loads when imported, itself included (runtime imports, transitively). */
function loadedBy(start: string): Set<string> {
  const seen = new Set<string>();
  const stack = [start];
  while (stack.length > 0) {
    const path = stack.pop()!;
    if (seen.has(path)) continue;
    seen.add(path);
    stack.push(...(byPath.get(path)?.runtime ?? []));
  }
  return seen;
}

describe("import walls", () => {
  it("reads the imports TypeScript keeps and the ones it drops", () => {
    // Sanity of the parser on files whose imports are known: a value import, a type-only one.
    const orchestrate = byPath.get("engine/orchestrate.ts")!;
    expect(orchestrate.runtime).toContain("engine/run-engine.ts");
    expect(orchestrate.declared).toContain("stores/metadata/types.ts");
    expect(orchestrate.runtime).not.toContain("stores/metadata/types.ts");
    expect(files.length).toBeGreaterThan(40);
  });

  it("finds a cycle when there is one", () => {
    const graph = (pairs: [string, string][]) => {
      const edges = new Map<string, Set<string>>();
      for (const [a, b] of pairs) edges.set(a, (edges.get(a) ?? new Set()).add(b));
      return edges;
    };
    expect(findCycle(graph([["a", "b"], ["b", "c"], ["c", "a"]]))).toEqual(["a", "b", "c", "a"]);
    expect(findCycle(graph([["a", "b"], ["b", "c"], ["a", "c"]]))).toBeUndefined();
  });

  // Type-only imports are left out on purpose: they are erased, so they neither load code
  // nor order module evaluation. The few that point "up" are public types declared where
  // they are implemented (the Pipeline interface names PipelineRun and CompiledSnapshot;
  // BaseOrchestrator.submitPipeline takes the Stack that holds it).
  it("has no cycle between folders at run time", () => {
    const { edges, why } = unitGraph("runtime");
    const cycle = findCycle(edges);
    const explain = cycle?.slice(1).map((to, i) => `${cycle[i]} → ${to}: ${why.get(`${cycle[i]}>${to}`)!.join(", ")}`);
    expect(explain, `folder cycle ${cycle?.join(" → ")}`).toBeUndefined();
  });

  it("keeps the engine out of the client and the server", () => {
    for (const file of files.filter((f) => /^(client|server)\//.test(f.path))) {
      expect(file.declared.filter((t) => t.startsWith("engine/")), `${file.path} imports the engine`).toEqual([]);
      const loaded = [...loadedBy(file.path)].filter((t) => t.startsWith("engine/"));
      expect(loaded, `importing ${file.path} loads the engine`).toEqual([]);
    }
  });

  it("loads no orchestrator or store implementation from the stack registries", () => {
    for (const path of ["stack/stack.ts", "stack/flavors.ts"]) {
      const loaded = [...loadedBy(path)].filter((t) => /^(orchestrators|engine)\/|^stores\/artifacts\/local\//.test(t));
      expect(loaded, `importing ${path} loads implementations`).toEqual([]);
    }
  });

  it("lets only the program entry points import the presets", () => {
    const entryPoints = /^(index\.ts|cli\/main\.ts|entrypoints\/[^/]+\.ts|presets\/)/;
    const importers = files.filter((f) => !entryPoints.test(f.path) && f.declared.some((t) => t.startsWith("presets/")));
    expect(importers.map((f) => f.path)).toEqual([]);
    // …and the public API does wire the default preset in.
    expect(byPath.get("index.ts")!.runtime).toContain("presets/default.ts");
  });
});
