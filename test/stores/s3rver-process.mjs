/* global process */
// A real S3-protocol server (s3rver) in its own process, so a test can stop it abruptly
// (SIGKILL) the way a server dies. Listens on loopback only; prints its port as JSON.
import S3rver from "s3rver";

const [directory, port = "0", ...buckets] = process.argv.slice(2);
const server = new S3rver({
  address: "127.0.0.1",
  port: Number(port),
  directory,
  silent: true,
  configureBuckets: buckets.map((name) => ({ name })),
});
const { port: listening } = await server.run();
process.stdout.write(JSON.stringify({ port: listening }) + "\n");
process.on("SIGTERM", () => server.close(() => process.exit(0)));
