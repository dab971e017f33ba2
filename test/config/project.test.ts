import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { projectRoot, recordedModulePath, resolveModulePath } from "../../src/config/project.js";

const saved = process.env.WEIR_PROJECT_ROOT;
afterEach(() => {
  if (saved === undefined) delete process.env.WEIR_PROJECT_ROOT;
  else process.env.WEIR_PROJECT_ROOT = saved;
});

describe("code located by project root", () => {
  const root = mkdtempSync(join(tmpdir(), "weir-root-"));
  mkdirSync(join(root, "pipelines"));
  writeFileSync(join(root, "pipelines", "train.ts"), "");

  it("records modules inside the root relative to it, others as they are", () => {
    process.env.WEIR_PROJECT_ROOT = root;
    expect(projectRoot()).toBe(root);
    expect(recordedModulePath(join(root, "pipelines", "train.ts"))).toBe("pipelines/train.ts");
    expect(recordedModulePath("/elsewhere/x.ts")).toBe("/elsewhere/x.ts");
    expect(recordedModulePath(undefined)).toBeUndefined();
  });

  it("resolves against WEIR_PROJECT_ROOT, else the current folder when the file is there, else the recorded root", () => {
    process.env.WEIR_PROJECT_ROOT = "/srv/checkout";
    expect(resolveModulePath("pipelines/train.ts", root)).toBe("/srv/checkout/pipelines/train.ts");
    delete process.env.WEIR_PROJECT_ROOT;
    // The test runs in the repository, which has no pipelines/train.ts: the recorded root is used.
    expect(resolveModulePath("pipelines/train.ts", root)).toBe(join(root, "pipelines", "train.ts"));
    expect(resolveModulePath("package.json", root)).toBe(join(process.cwd(), "package.json"));
    expect(resolveModulePath("/abs/old.ts", root)).toBe("/abs/old.ts");
  });
});
