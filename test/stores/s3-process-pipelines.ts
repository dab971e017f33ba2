// A pipeline whose steps run in step processes (local_process) on an S3 artifact store.
// Step processes import this module before they open the artifact store, so registering the
// flavor here does for them what a preset does for every process.
import { pipeline, step } from "weir";
import { registerArtifactStoreFlavor } from "../../src/stores/artifacts/resolve.js";
import { s3ArtifactStoreFlavor } from "../../src/stores/artifacts/s3/s3-artifact-store.js";

registerArtifactStoreFlavor("s3", s3ArtifactStoreFlavor);

const double = step(function s3_double(x: number) {
  return { doubled: x * 2, pid: process.pid };
});
const sumDoubled = step(function s3_sum(parts: { doubled: number; pid: number }[]) {
  return { sum: parts.reduce((total, p) => total + p.doubled, 0), pids: [...parts.map((p) => p.pid), process.pid] };
});
export const s3InProcesses = pipeline(function s3_in_processes() {
  return sumDoubled([double(1), double(5)]);
});
