/**
 * BullMQ and ioredis, loaded on first use: every process that imports weir (step processes
 * included) would otherwise pay for loading them, about a second on a busy machine.
 */
export async function queueLibraries() {
  const [bullmq, ioredis] = await Promise.all([import("bullmq"), import("ioredis")]);
  return { Queue: bullmq.Queue, Worker: bullmq.Worker, Redis: ioredis.Redis };
}
