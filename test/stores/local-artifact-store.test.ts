import { fork } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

import { afterAll, describe, expect, it } from "vitest";

import { LocalArtifactStore } from "../../src/stores/artifacts/local/local-artifact-store.js";
import { artifactStoreConformance } from "./artifact-store.conformance.js";

const root = fs.mkdtempSync(path.join(os.tmpdir(), "weir-artifacts-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

let storeCounter = 0;
/** A store with its own subdirectory of the temp root. */
const makeStore = () => new LocalArtifactStore({ path: path.join(root, `store-${storeCounter++}`) });

artifactStoreConformance("LocalArtifactStore", async () => makeStore());

function filesUnder(dir: string): string[] {
  return fs
    .readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)));
}

describe("LocalArtifactStore", () => {
  it("has the local flavor, a default name and an absolute root", () => {
    const store = new LocalArtifactStore({ path: "relative/artifacts" });
    expect(store.flavor).toBe("local");
    expect(store.name).toBe("default");
    expect(store.root).toBe(path.resolve("relative/artifacts"));
    expect(new LocalArtifactStore({ path: root, name: "shared" }).name).toBe("shared");
  });

  it("appends small values to one pack file per run and process, addressed by byte range", async () => {
    const store = makeStore();
    const uris: string[] = [];
    for (let i = 0; i < 20; i++) uris.push(await store.save({ runId: "run", invocationId: `step_${i}`, outputName: "output" }, new Uint8Array([i, i])));
    const files = filesUnder(store.root);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(new RegExp(`^run/pack-${process.pid}-[0-9a-f]{8}\\.bin$`));
    expect(uris[3]).toBe(`${path.join(store.root, files[0])}#6+2`);
    expect(fs.statSync(path.join(store.root, files[0])).size).toBe(40);
    expect([...(await store.read(uris[3]))]).toEqual([3, 3]);
  });

  it("writes large values to a file of their own, named after the key, with no temp file left", async () => {
    const store = makeStore();
    const big = new Uint8Array(3 * 1024 * 1024).fill(7);
    const uri = await store.save({ runId: "r", invocationId: "train[3]", outputName: "model", mappingKey: "a/b" }, big);
    expect(uri).toBe(path.join(store.root, "r", "train%5B3%5D+model+a%2Fb"));
    expect(filesUnder(store.root)).toEqual([path.join("r", "train%5B3%5D+model+a%2Fb")]);
    expect((await store.read(uri)).byteLength).toBe(big.byteLength);
    const long = await store.save({ runId: "r", invocationId: `step[${"k".repeat(150)}]`, outputName: "out", mappingKey: "m".repeat(120) }, big);
    expect(long).toBe(path.join(store.root, "r", encodeURIComponent(`step[${"k".repeat(150)}]`), "out", "m".repeat(120)));
    await expect(store.save({ runId: "", invocationId: "s", outputName: "o" }, big)).rejects.toThrow(/must not be empty/);
  });

  it("gives concurrent writer processes their own packs", async () => {
    const store = makeStore();
    const script = `
      import { LocalArtifactStore } from ${JSON.stringify(path.resolve("src/stores/artifacts/local/local-artifact-store.ts"))};
      const store = new LocalArtifactStore({ path: ${JSON.stringify(store.root)} });
      const uris = [];
      for (let i = 0; i < 50; i++) uris.push(await store.save({ runId: "shared", invocationId: "s" + i, outputName: "o" }, Buffer.from(process.pid + ":" + i)));
      process.send(uris, () => process.exit(0));`;
    const file = path.join(root, `writer-${storeCounter}.mts`);
    fs.writeFileSync(file, script);
    const run = () =>
      new Promise<{ pid: number; uris: string[] }>((resolve, reject) => {
        const child = fork(file, { execArgv: ["--import", "tsx"] });
        child.on("message", (uris) => resolve({ pid: child.pid!, uris: uris as string[] }));
        child.on("error", reject);
      });
    const writers = await Promise.all([run(), run()]);
    for (const { pid, uris } of writers) {
      const values = await Promise.all(uris.map(async (uri) => Buffer.from(await store.read(uri)).toString()));
      expect(values).toEqual(uris.map((_, i) => `${pid}:${i}`));
    }
    expect(filesUnder(store.root)).toHaveLength(2);
  });

  it("says when a packed value is truncated instead of returning part of it", async () => {
    const store = makeStore();
    const uri = await store.save({ runId: "cut", invocationId: "s", outputName: "o" }, new Uint8Array(100).fill(1));
    fs.truncateSync(uri.replace(/#.*$/, ""), 50);
    expect(await store.exists(uri)).toBe(false);
    await expect(store.read(uri)).rejects.toThrow(/is truncated: 50 of 100 bytes/);
  });

  it("deletes a run's files and its folder, and starts a new pack after deleting the open one", async () => {
    const store = makeStore();
    const key = (invocationId: string) => ({ runId: "gone", invocationId, outputName: "o" });
    const small = [await store.save(key("a"), Buffer.from("a")), await store.save(key("b"), Buffer.from("b"))];
    const large = await store.save(key("large"), new Uint8Array(100 * 1024));
    await store.delete([small[0]]);
    // Half a pack: it stays, and the other value in it still reads.
    expect(Buffer.from(await store.read(small[1])).toString()).toBe("b");
    await store.delete([...small, large]);
    expect(fs.existsSync(path.join(store.root, "gone"))).toBe(false);
    const next = await store.save(key("c"), Buffer.from("c"));
    expect(next.replace(/#.*$/, "")).not.toBe(small[0].replace(/#.*$/, ""));
    expect(next).toMatch(/#0\+1$/);
    expect(Buffer.from(await store.read(next)).toString()).toBe("c");
    expect(filesUnder(store.root)).toHaveLength(1);
  });

  it("rejects uris outside the root", async () => {
    const store = makeStore();
    const outside = [
      path.join(store.root, "..", "escape"),
      store.root,
      `${store.root}-sibling${path.sep}file`,
      path.join(store.root, "run", "..", "..", "escape#0+1"),
      "relative/file",
    ];
    for (const uri of outside) {
      await expect(store.read(uri)).rejects.toThrow(/outside the root/);
      await expect(store.exists(uri)).rejects.toThrow(/outside the root/);
    }
  });
});
