import { existsSync, mkdtempSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

/**
 * What step processes need to load a run's TypeScript without tsx: written by the launcher
 * (`Precompiler`), read by the module hooks of `bin/register-precompiled.js` in each step
 * process. The hooks serve each file's compiled JavaScript under the file's own URL, so
 * `import.meta.url`, relative imports, stack traces and `callerModule()` see the original
 * file, as under tsx.
 */
export interface PrecompiledManifest {
  /** The URL of each TypeScript file of the run's step modules → the file of its compiled JavaScript (an ES module). */
  modules: Record<string, string>;
  /**
   * For each local file (URL) of those modules: its import specifiers that name local files,
   * resolved as esbuild (and tsx) resolve them: "./helper.js" is helper.ts, extensionless
   * specifiers, tsconfig `paths`. Specifiers missing here are resolved by Node.
   */
  imports: Record<string, Record<string, string>>;
}

/** The TypeScript files compiled ahead (ES modules); .cts and .cjs files are CommonJS, which only tsx's require hooks load. */
const COMPILED = /\.(?:ts|mts|tsx)$/;
const LEFT_TO_NODE = /\.(?:js|mjs|json)$/;
const REQUIRE = /\brequire\s*\(|\bcreateRequire\b/;
const RESOLVE_EXTENSIONS = [".ts", ".tsx", ".mts", ".cts", ".js", ".jsx", ".mjs", ".cjs", ".json"];

type Esbuild = typeof import("esbuild");
let esbuildModule: Promise<Esbuild> | undefined;
/** esbuild, loaded on first use (the launcher only needs it for runs with TypeScript steps). */
function loadEsbuild(): Promise<Esbuild> {
  return (esbuildModule ??= import("esbuild"));
}

/**
 * The tsconfig tsx would use in a step process (forked in this directory with this
 * environment): `TSX_TSCONFIG_PATH`, else the nearest tsconfig.json from the current
 * directory up, else none (`{}`, so that esbuild does not look for one beside each file).
 */
function tsconfigOption(): { tsconfig: string } | { tsconfigRaw: string } {
  const configured = process.env.TSX_TSCONFIG_PATH;
  if (configured) return { tsconfig: resolve(configured) };
  for (let dir = process.cwd(); ; dir = dirname(dir)) {
    const file = join(dir, "tsconfig.json");
    if (existsSync(file)) return { tsconfig: file };
    if (dirname(dir) === dir) return { tsconfigRaw: "{}" };
  }
}

/**
 * One TypeScript file as JavaScript, compiled as tsx compiles it for `import` (the same
 * esbuild options: names kept, whitespace minified, the running Node as target), with an
 * inline source map that names the original file, so stack traces show its lines.
 */
export async function compileTypeScript(file: string): Promise<string> {
  const esbuild = await loadEsbuild();
  const { outputFiles } = await esbuild.build({
    entryPoints: [file],
    bundle: false,
    write: false,
    outfile: "/weir-precompiled.js",
    absWorkingDir: "/",
    format: "esm",
    platform: "node",
    target: `node${process.versions.node}`,
    sourcemap: "external",
    sourcesContent: false,
    minifyWhitespace: true,
    keepNames: true,
    logLevel: "silent",
    ...tsconfigOption(),
  });
  const code = outputFiles.find((output) => output.path.endsWith(".js"))!.text;
  const map = JSON.parse(outputFiles.find((output) => output.path.endsWith(".map"))!.text) as { sources: string[] };
  map.sources = [pathToFileURL(file).href];
  return `${code}//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify(map)).toString("base64")}\n`;
}

/**
 * The local files `module` imports, transitively (everything but packages), found by
 * esbuild's bundler, which resolves as tsx does. Undefined when step processes need tsx for
 * them: a CommonJS TypeScript file (.cts), a `require` of a TypeScript file, a file esbuild
 * cannot resolve or parse, or a kind of file Node does not load by itself.
 */
async function localGraph(module: string): Promise<PrecompiledManifest["imports"] | undefined> {
  const esbuild = await loadEsbuild();
  let metafile;
  try {
    ({ metafile } = await esbuild.build({
      entryPoints: [module],
      bundle: true,
      packages: "external",
      write: false,
      metafile: true,
      outdir: "/weir-precompiled",
      absWorkingDir: "/",
      format: "esm",
      platform: "node",
      resolveExtensions: RESOLVE_EXTENSIONS,
      logLevel: "silent",
      ...tsconfigOption(),
    }));
  } catch {
    return undefined;
  }
  const imports: PrecompiledManifest["imports"] = {};
  for (const [path, input] of Object.entries(metafile.inputs)) {
    // Inputs are paths from absWorkingDir ("/"); anything else (another namespace) is not a plain file.
    if (path.includes(":") || !(COMPILED.test(path) || LEFT_TO_NODE.test(path))) return undefined;
    // require() does not go through module hooks (Node 20): a TypeScript file that may require
    // one (through createRequire, which esbuild does not follow) needs tsx's require hook.
    if (COMPILED.test(path) && REQUIRE.test(readFileSync("/" + path, "utf8"))) return undefined;
    const local: Record<string, string> = {};
    for (const imported of input.imports) {
      if (imported.external) continue;
      if (imported.kind.startsWith("require") && !LEFT_TO_NODE.test(imported.path)) return undefined;
      // Node imports JSON only with `with { type: "json" }`; tsx also without.
      if (imported.path.endsWith(".json") && imported.with?.type !== "json") return undefined;
      if (imported.original !== undefined) local[imported.original] = fileUrl("/" + imported.path);
    }
    imports[fileUrl("/" + path)] = local;
  }
  return imports;
}

/** The URL Node's loader gives a file: symbolic links resolved, as the hooks will see it. */
function fileUrl(path: string): string {
  return pathToFileURL(realpathSync(path)).href;
}

/**
 * "Pre-compile user code once per run": the launcher compiles the TypeScript of each step
 * module (and of the local files it imports) once, into a folder of its own, and its step
 * processes load that JavaScript through small module hooks instead of tsx — tsx and its
 * loader thread were more than half of the CPU time of booting a step process. A module
 * that cannot be precompiled (see `localGraph`) keeps tsx. The folder goes with `close()`.
 *
 * A run's TypeScript is compiled when its first attempt of each module starts: edits made
 * to those files during the run reach the next run, not the rest of this one.
 */
export class Precompiler {
  private dir: string | undefined;
  private readonly manifest: PrecompiledManifest = { modules: {}, imports: {} };
  private readonly compiled = new Map<string, Promise<string | undefined>>();
  private files = 0;

  /** The manifest's path once `module` (a TypeScript file) is compiled, or undefined when its step processes need tsx. */
  prepare(module: string): Promise<string | undefined> {
    let manifest = this.compiled.get(module);
    if (!manifest) {
      manifest = this.compile(module).catch(() => undefined);
      this.compiled.set(module, manifest);
    }
    return manifest;
  }

  /** Removes the compiled files (the run is over: no step process will load them). */
  close(): void {
    if (this.dir) rmSync(this.dir, { recursive: true, force: true });
    this.dir = undefined;
  }

  private async compile(module: string): Promise<string | undefined> {
    const imports = await localGraph(module);
    if (!imports) return undefined;
    // Files another module of the run shares were compiled with it.
    const urls = Object.keys(imports).filter((url) => COMPILED.test(url) && !this.manifest.modules[url]);
    const sources = await Promise.all(urls.map((url) => compileTypeScript(fileURLToPath(url))));
    this.dir ??= mkdtempSync(join(tmpdir(), "weir-precompiled-"));
    urls.forEach((url, i) => {
      const file = join(this.dir!, `${this.files++}.mjs`);
      writeFileSync(file, sources[i]);
      this.manifest.modules[url] = file;
    });
    Object.assign(this.manifest.imports, imports);
    // Written whole and renamed into place: a step process never reads half a manifest.
    const path = join(this.dir, "manifest.json");
    writeFileSync(path + ".tmp", JSON.stringify(this.manifest));
    renameSync(path + ".tmp", path);
    return path;
  }
}
