// Seed: ZenML "External Input Integration". The branch taken depends on configuration
// from outside the pipeline. The seed queries https://api.example.com/config; weir's
// examples run without network, so check_external_api reads the same kind of document
// from a local JSON file: data/external-config.json, or the file the `configPath`
// parameter names.
// Run it: weir run examples/external-input.ts --param configPath=my-config.json
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { pipeline, step } from "weir";

interface ExternalConfig {
  gpu_available?: boolean;
  [key: string]: unknown;
}

const DEFAULT_CONFIG = fileURLToPath(new URL("./data/external-config.json", import.meta.url));

/** Query the "external API" for configuration. */
export const checkExternalApi = step(async function check_external_api(configPath: string): Promise<ExternalConfig> {
  return JSON.parse(await readFile(configPath, "utf8")) as ExternalConfig;
});

/** GPU-accelerated processing. */
export const processWithGpu = step(function process_with_gpu(data: ExternalConfig) {
  return { method: "gpu", result: data };
});

/** CPU-only processing. */
export const processWithCpu = step(function process_with_cpu(data: ExternalConfig) {
  return { method: "cpu", result: data };
});

/** Use external configuration to determine execution. */
export const externalConfigPipeline = pipeline(
  { name: "external_config_pipeline", dynamic: true },
  async ({ configPath = DEFAULT_CONFIG }: { configPath?: string }) => {
    const config = checkExternalApi(configPath);
    if ((await config).gpu_available) return processWithGpu(config);
    return processWithCpu(config);
  },
);
