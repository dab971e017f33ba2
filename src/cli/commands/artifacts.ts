import type { Command } from "commander";
import { Client } from "../../client/client.js";
import { details, formatTime, formatValue, printJson, shortId, table, withJsonOption } from "../output.js";
import { resolveArtifactId } from "../resolve.js";
import { positiveInteger } from "./runs.js";

export function registerArtifactsCommands(program: Command): void {
  const artifacts = program.command("artifacts").description("artifact versions stored by step runs");

  withJsonOption(artifacts.command("list"))
    .description("artifact versions, newest first (the id column is the end of each id, which commands accept)")
    .option("--name <name>", "only versions of this artifact (pipeline::invocation::output)")
    .option("--limit <n>", "at most this many versions", positiveInteger, 20)
    .action(async (flags: { name?: string; limit: number; json?: boolean }) => {
      const versions = await new Client().listArtifactVersions({ artifactName: flags.name, limit: flags.limit });
      if (flags.json) return printJson(versions);
      if (versions.length === 0) {
        console.log("no artifacts yet");
        return;
      }
      console.log(
        table(
          ["id", "name", "version", "type", "materializer", "size", "created"],
          versions.map((v) => [
            shortId(v.id),
            v.artifactName,
            v.version,
            v.dataType,
            v.materializer,
            v.size,
            formatTime(new Date(v.createdAt)),
          ]),
        ),
      );
    });

  withJsonOption(artifacts.command("show"))
    .description("an artifact version's metadata, the step runs that produced and consumed it, and its value")
    .argument("<id>", "artifact version id, a unique start or end of it, or an artifact name (newest version; NAME@N for version N)")
    .action(async (ref: string, flags: { json?: boolean }) => {
      const client = new Client();
      const version = await client.getArtifactVersion(await resolveArtifactId(ref));
      const lineage = await client.getArtifactLineage(version.id);
      const value = await client.loadArtifact(version.id);
      if (flags.json) return printJson({ ...version, ...lineage, value });
      console.log(
        details([
          ["id", version.id],
          ["name", version.artifactName],
          ["version", version.version],
          ["type", version.dataType],
          ["materializer", version.materializer],
          ["size", `${version.size} bytes`],
          ["content hash", version.contentHash],
          ["uri", version.uri],
          ["created", formatTime(new Date(version.createdAt))],
        ]),
      );
      if (Object.keys(version.metadata).length > 0) console.log(`metadata:\n${formatValue(version.metadata)}`);
      const produced = lineage.producedBy;
      const output = (p: { outputName: string; mappingKey: string | null }) => `${p.outputName}${p.mappingKey ? ` [${p.mappingKey}]` : ""}`;
      console.log(
        `produced by: ${produced ? `run ${produced.runId} step ${produced.invocationId} (output ${output(produced)})` : "no step run (a value a pipeline returned)"}`,
      );
      for (const r of lineage.reusedBy) console.log(`reused by:   run ${r.runId} step ${r.invocationId} (cached, output ${output(r)})`);
      if (lineage.consumedBy.length === 0) console.log("consumed by: no step run");
      for (const c of lineage.consumedBy) console.log(`consumed by: run ${c.runId} step ${c.invocationId} (input ${c.inputName})`);
      console.log(`value:\n${formatValue(value)}`);
    });
}
