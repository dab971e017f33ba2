import { ListObjectsV2Command, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { ArtifactStoreError, StackError } from "../../src/authoring/errors.js";
import { registerArtifactStoreFlavor } from "../../src/stores/artifacts/resolve.js";
import { S3ArtifactStore, s3ArtifactStoreFlavor } from "../../src/stores/artifacts/s3/s3-artifact-store.js";
import { artifactStoreConformance } from "./artifact-store.conformance.js";
import { startS3rver, type S3rverHandle } from "./s3rver.js";

let server: S3rverHandle;
const stores: S3ArtifactStore[] = [];
let storeCounter = 0;

beforeAll(async () => {
  server = await startS3rver(["weir"]);
  registerArtifactStoreFlavor("s3", s3ArtifactStoreFlavor);
});
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()));
  await server?.stop();
});

/** A store with its own prefix of the one bucket. */
function makeStore(): S3ArtifactStore {
  const store = new S3ArtifactStore({ bucket: "weir", prefix: `store-${storeCounter++}`, endpoint: server.endpoint, forcePathStyle: true });
  stores.push(store);
  return store;
}

async function objectsUnder(prefix: string): Promise<{ key: string; size: number }[]> {
  const client = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: "us-east-1" });
  try {
    const listed = await client.send(new ListObjectsV2Command({ Bucket: "weir", Prefix: prefix }));
    return (listed.Contents ?? []).map((o) => ({ key: o.Key!, size: o.Size! }));
  } finally {
    client.destroy();
  }
}

artifactStoreConformance("S3ArtifactStore (s3rver)", async () => makeStore());

describe("S3ArtifactStore", () => {
  it("records bucket, prefix, endpoint, region and path style as its config, and checks them", () => {
    const store = new S3ArtifactStore({ bucket: "team-artifacts", prefix: "/weir/prod/", endpoint: "http://127.0.0.1:9000", region: "eu-west-1", forcePathStyle: true, name: "team" });
    expect(store.flavor).toBe("s3");
    expect(store.name).toBe("team");
    expect(store.root).toBe("s3://team-artifacts/weir/prod");
    expect(store.config()).toEqual({ bucket: "team-artifacts", prefix: "weir/prod", endpoint: "http://127.0.0.1:9000", region: "eu-west-1", forcePathStyle: true });
    expect(new S3ArtifactStore({ bucket: "b-1", prefix: "" }).root).toBe("s3://b-1");
    expect(() => s3ArtifactStoreFlavor({}, "team")).toThrow(StackError);
    expect(() => s3ArtifactStoreFlavor({}, "team")).toThrow(/S3 artifact store "team": "bucket" must be a bucket name/);
    expect(() => s3ArtifactStoreFlavor({ bucket: "Bad_Bucket" }, "x")).toThrow(/"bucket" must be a bucket name/);
    expect(() => s3ArtifactStoreFlavor({ bucket: "ok-bucket", endpoint: "not a url" }, "x")).toThrow(/"endpoint" must be a URL/);
    expect(() => s3ArtifactStoreFlavor({ bucket: "ok-bucket", prefix: "a/../b" }, "x")).toThrow(/"prefix"/);
    expect(() => s3ArtifactStoreFlavor({ bucket: "ok-bucket", forcePathStyle: "yes" }, "x")).toThrow(/"forcePathStyle" must be true or false/);
    expect(() => s3ArtifactStoreFlavor({ bucket: "ok-bucket", path: "/tmp" }, "x")).toThrow(/unknown config field "path"/);
  });

  it("packs concurrent small saves into a few objects, each artifact readable on its own by a byte range", async () => {
    const store = makeStore();
    const uris = await Promise.all(Array.from({ length: 300 }, (_, i) => store.save({ runId: "packed", invocationId: `s${i}`, outputName: "output" }, Buffer.from(`value ${i}`))));
    const objects = await objectsUnder(`${store.root.slice("s3://weir/".length)}/packed/`);
    // Group commit: at most two uploads in flight, the rest wait and share the next pack.
    expect(objects.length).toBeGreaterThanOrEqual(1);
    expect(objects.length).toBeLessThanOrEqual(10);
    for (const object of objects) expect(object.key).toMatch(/\/packed\/pack-[0-9a-f]{16}\.bin$/);
    expect(objects.reduce((sum, o) => sum + o.size, 0)).toBe(uris.reduce((sum, _, i) => sum + `value ${i}`.length, 0));
    expect(uris[7]).toMatch(/^s3:\/\/weir\/store-\d+\/packed\/pack-[0-9a-f]{16}\.bin#\d+\+7$/);
    expect(Buffer.from(await store.read(uris[7])).toString()).toBe("value 7");
  });

  it("gives large values an object of their own whose bytes never change, even when the key is saved again", async () => {
    const store = makeStore();
    const key = { runId: "big", invocationId: "train[3]", outputName: "model", mappingKey: "a/b" };
    const first = await store.save(key, new Uint8Array(2 * 1024 * 1024).fill(1));
    const second = await store.save(key, new Uint8Array(2 * 1024 * 1024).fill(2));
    expect(first).toMatch(/^s3:\/\/weir\/store-\d+\/big\/train%5B3%5D\+model\+a%2Fb@[0-9a-f]{12}$/);
    expect(second).not.toBe(first);
    expect((await store.read(first))[0]).toBe(1);
    expect((await store.read(second))[0]).toBe(2);
  });

  it("merges concurrent reads of a pack and still gives each artifact exactly its own bytes", async () => {
    const store = makeStore();
    const values = Array.from({ length: 40 }, (_, i) => Buffer.from(`v${i};`.repeat(i + 1)));
    // A value wider than the merge gap sits in the middle of the pack: reads split around it.
    values.splice(20, 0, Buffer.alloc(300 * 1024, 7));
    const uris = await Promise.all(values.map((v, i) => store.save({ runId: "merge", invocationId: `s${i}`, outputName: "o" }, v)));
    const asked = [...uris.slice(0, 20), ...uris.slice(21), uris[3], uris[3], uris[20]];
    const read = await Promise.all(asked.map((uri) => store.read(uri)));
    const expected = [...values.slice(0, 20), ...values.slice(21), values[3], values[3], values[20]];
    expect(read.map((b) => Buffer.from(b).toString("base64"))).toEqual(expected.map((v) => v.toString("base64")));
    // Each value owns its bytes: changing one changes no other.
    read[40].fill(0);
    expect(Buffer.from(read[41]).equals(values[3])).toBe(true);
  });

  it("says which packed artifacts a shortened pack no longer holds", async () => {
    const store = makeStore();
    const uris = await Promise.all(["first", "second", "third"].map((v) => store.save({ runId: "short", invocationId: v, outputName: "o" }, Buffer.from(v))));
    const pack = uris[0].replace(/#.*$/, "");
    expect(uris.every((uri) => uri.startsWith(`${pack}#`))).toBe(true);
    const client = new S3Client({ endpoint: server.endpoint, forcePathStyle: true, region: "us-east-1" });
    await client.send(new PutObjectCommand({ Bucket: "weir", Key: pack.slice("s3://weir/".length), Body: Buffer.from("first") }));
    client.destroy();
    const [first, second, third] = await Promise.allSettled(uris.map((uri) => store.read(uri)));
    expect(first.status === "fulfilled" && Buffer.from(first.value).toString()).toBe("first");
    expect((second as PromiseRejectedResult).reason.message).toBe(`artifact ${uris[1]} is truncated: 0 of 6 bytes`);
    expect((third as PromiseRejectedResult).reason.message).toBe(`artifact ${uris[2]} is truncated: 0 of 5 bytes`);
  });

  it("rejects uris outside its root", async () => {
    const store = makeStore();
    for (const uri of [`${store.root}-sibling/run/x`, store.root, `${store.root}/`, `${store.root}/run/../../x`, "s3://other/x", "/local/file"]) {
      await expect(store.read(uri)).rejects.toThrow(/outside the root/);
    }
  });
});

describe("S3ArtifactStore when the server stops", () => {
  it("rejects saves with an error naming the store, returns no uri for anything not stored, and works again after a restart", async () => {
    const store = makeStore();
    const runId = "fault";
    expect(Buffer.from(await store.read(await store.save({ runId, invocationId: "before", outputName: "o" }, Buffer.from("ok")))).toString()).toBe("ok");

    // Cut the server off mid-write: waves of small values and a large upload in flight.
    let stopped = false;
    const small: { value: string; outcome: PromiseSettledResult<string> }[] = [];
    const writer = (async () => {
      for (let wave = 0; !stopped; wave++) {
        const values = Array.from({ length: 10 }, (_, i) => `small ${wave}.${i}`);
        const outcomes = await Promise.allSettled(values.map((value, i) => store.save({ runId, invocationId: `s${wave}_${i}`, outputName: "o" }, Buffer.from(value))));
        small.push(...outcomes.map((outcome, i) => ({ value: values[i], outcome })));
      }
    })();
    await new Promise((resolve) => setTimeout(resolve, 150));
    const large = store.save({ runId, invocationId: "large", outputName: "o" }, new Uint8Array(48 * 1024 * 1024).fill(5)).then(
      () => undefined,
      (error: Error) => error,
    );
    await new Promise((resolve) => setTimeout(resolve, 30));
    await server.kill();
    stopped = true;
    const largeError = await large;
    await writer;

    expect(largeError).toBeInstanceOf(ArtifactStoreError);
    expect(largeError!.message).toContain(`S3 artifact store "default" (${store.root} at ${server.endpoint})`);
    expect(largeError!.message).toMatch(/saving s3:\/\/weir\/store-\d+\/fault\/large\+o@[0-9a-f]{12} failed/);
    const failed = small.filter((s) => s.outcome.status === "rejected");
    const stored = small.flatMap((s) => (s.outcome.status === "fulfilled" ? [{ value: s.value, uri: s.outcome.value }] : []));
    expect(stored.length).toBeGreaterThan(0);
    expect(failed.length).toBeGreaterThan(0);
    for (const s of failed) {
      const reason = (s.outcome as PromiseRejectedResult).reason as Error;
      expect(reason).toBeInstanceOf(ArtifactStoreError);
      expect(reason.message).toContain(server.endpoint);
    }

    await server.restart();
    // Every uri that was returned reads its complete value: a uri is only returned once stored.
    const read = await Promise.all(stored.map(async ({ uri }) => Buffer.from(await store.read(uri)).toString()));
    expect(read).toEqual(stored.map((s) => s.value));
    // The store was not poisoned by the failure.
    const again = await store.save({ runId, invocationId: "again", outputName: "o" }, Buffer.from("again"));
    expect(Buffer.from(await store.read(again)).toString()).toBe("again");
  }, 60_000);
});
