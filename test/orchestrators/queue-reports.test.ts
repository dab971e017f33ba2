// How a worker's reports and BullMQ's commands reach Redis: a turn's worth at a time, in order.
import type { Socket } from "node:net";
import { Redis } from "ioredis";
import { afterAll, describe, expect, it } from "vitest";
import { AttemptChannel, eventsOf, ReportOutbox, type AttemptEvent } from "../../src/orchestrators/queue/channel.js";
import { STARTED_DELAY_MS } from "../../src/orchestrators/queue/config.js";
import { coalesceWrites } from "../../src/orchestrators/queue/coalesced-writes.js";
import { sleep } from "../helpers.js";

const REDIS_URL = process.env.WEIR_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = `weir-reports-test-${process.pid}`;
const connections: Redis[] = [];
function connect(): Redis {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  connections.push(redis);
  return redis;
}

afterAll(async () => {
  const redis = connect();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  await Promise.all(connections.map((c) => c.quit().catch(() => c.disconnect())));
});

async function entries(redis: Redis, key: string): Promise<[string, string[]][]> {
  return (await redis.xrange(key, "-", "+")) as [string, string[]][];
}

describe("queue reports", () => {
  it("sends a turn's events as one stream entry per run, in order, and parses entries of several events", async () => {
    const redis = connect();
    const outbox = new ReportOutbox(redis);
    const [a, b] = [`${prefix}:run-a`, `${prefix}:run-b`];
    const ids = { stepRunId: "s1", attempt: 1, execution: "w.1" };
    const sent = [1, 2, 3].map((n) => outbox.send(a, { ...ids, type: "log", stream: "stdout", message: `line ${n}` }));
    sent.push(outbox.send(b, { ...ids, stepRunId: "s2", type: "log", stream: "stderr", message: "other run" }));
    await Promise.all(sent);
    const ofA = await entries(redis, a);
    expect(ofA).toHaveLength(1);
    expect(eventsOf(ofA).map((e) => (e as { message: string }).message)).toEqual(["line 1", "line 2", "line 3"]);
    expect(eventsOf(await entries(redis, b)).map((e) => e.stepRunId)).toEqual(["s2"]);
    // A later turn is a later entry.
    await outbox.send(a, { ...ids, type: "log", stream: "stdout", message: "line 4" });
    expect(await entries(redis, a)).toHaveLength(2);
    // Fields that are not weir's are skipped.
    expect(eventsOf([["1-0", ["x", "1", "e", JSON.stringify({ ...ids, type: "log", stream: "log", message: "ok" }), "e", "not json"]]])).toHaveLength(1);
  });

  it("holds a start back so that it rides with the result, unless asked to send it at once or the attempt runs on", async () => {
    const redis = connect();
    const outbox = new ReportOutbox(redis);
    const key = `${prefix}:run-start`;
    const types = async () => eventsOf(await entries(redis, key)).map((e: AttemptEvent) => `${e.stepRunId}:${e.type}`);

    const quick = new AttemptChannel(outbox, key, { stepRunId: "quick", attempt: 1, execution: "w.1" }, STARTED_DELAY_MS);
    await quick.started("w", 0, false);
    await quick.result({ metadata: {} });
    const [entry] = await entries(redis, key);
    expect(eventsOf([entry]).map((e) => e.type)).toEqual(["started", "result"]); // one entry, start first

    const timed = new AttemptChannel(outbox, key, { stepRunId: "timed", attempt: 1, execution: "w.2" }, STARTED_DELAY_MS);
    await timed.started("w", 0, true);
    expect(await types()).toContain("timed:started");

    const long = new AttemptChannel(outbox, key, { stepRunId: "long", attempt: 1, execution: "w.3" }, STARTED_DELAY_MS);
    await long.started("w", 0, false);
    expect(await types()).not.toContain("long:started");
    await sleep(STARTED_DELAY_MS + 100);
    expect(await types()).toContain("long:started");
    await long.result({ metadata: {} });
    expect((await types()).filter((t) => t.startsWith("long:"))).toEqual(["long:started", "long:result"]);
  });

  it("gathers a connection's commands of one turn into one socket write, in order, across reconnections", async () => {
    const redis = coalesceWrites(connect());
    await redis.ping();
    const count = (socket: Socket) => {
      const calls = { writes: 0 };
      const write = socket._write.bind(socket);
      const writev = socket._writev?.bind(socket);
      socket._write = (...args: Parameters<Socket["_write"]>) => (calls.writes++, write(...args));
      if (writev) socket._writev = (...args: Parameters<NonNullable<Socket["_writev"]>>) => (calls.writes++, writev(...args));
      return calls;
    };
    const key = `${prefix}:list`;
    for (let round = 0; round < 2; round++) {
      const calls = count((redis as unknown as { stream: Socket }).stream);
      const replies = await Promise.all(Array.from({ length: 50 }, (_, i) => redis.rpush(key, `${round}.${i}`)));
      expect(calls.writes).toBe(1);
      expect(replies[49]).toBe(50 * (round + 1));
      // A new socket after a reconnection is gathered too.
      redis.disconnect(true);
      await new Promise((resolve) => redis.once("ready", resolve));
    }
    const values = await redis.lrange(key, 0, -1);
    expect(values).toEqual([0, 1].flatMap((round) => Array.from({ length: 50 }, (_, i) => `${round}.${i}`)));
  });
});
