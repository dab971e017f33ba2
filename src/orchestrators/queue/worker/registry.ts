import type { Redis } from "ioredis";
import { queueKeys } from "../config.js";
import type { Capacity } from "../../local-process/resource-pool.js";

/** What a worker says about itself on every heartbeat. */
export interface WorkerInfo {
  id: string;
  host: string;
  pid: number;
  mode: "in-process" | "process";
  concurrency: number;
  capacity: Capacity;
  startedAt: number;
  heartbeatAt: number;
  /** The attempts it is running now. */
  current: { runId: string; stepRunId: string; attempt: number; invocationId: string }[];
  /** Runs whose orchestration it is running (orchestrateIn: "worker"). */
  orchestrating: string[];
}

/** Publishes a heartbeat: the key expires when the worker stops beating (3 beats). */
export async function publishHeartbeat(redis: Redis, prefix: string, info: WorkerInfo, heartbeatMs: number): Promise<void> {
  const keys = queueKeys(prefix);
  await redis
    .multi()
    .sadd(keys.workers, info.id)
    .set(keys.worker(info.id), JSON.stringify(info), "PX", heartbeatMs * 3)
    .exec();
}

export async function removeHeartbeat(redis: Redis, prefix: string, id: string): Promise<void> {
  const keys = queueKeys(prefix);
  await redis.multi().srem(keys.workers, id).del(keys.worker(id)).exec();
}

/** The live workers under a prefix (and forgets the ids of dead ones). */
export async function listLiveWorkers(redis: Redis, prefix: string): Promise<WorkerInfo[]> {
  const keys = queueKeys(prefix);
  const ids = await redis.smembers(keys.workers);
  if (ids.length === 0) return [];
  const values = await redis.mget(ids.map((id) => keys.worker(id)));
  const live: WorkerInfo[] = [];
  const dead: string[] = [];
  values.forEach((value, i) => (value ? live.push(JSON.parse(value) as WorkerInfo) : dead.push(ids[i])));
  if (dead.length > 0) await redis.srem(keys.workers, ...dead);
  return live.sort((a, b) => a.startedAt - b.startedAt);
}
