import type { Command } from "commander";
import { Client } from "../../client/client.js";
import { details, formatTime, formatValue, shortId, table } from "../output.js";
import { resolveArtifactId } from "../resolve.js";
import { positiveInteger } from "./runs.js";

export function registerArtifactsCommands(program: Command): void {
  const artifacts = program.command("artifacts").description("artifact versions stored by step runs");

  artifacts
    .command("list")
    .description("artifact versions, newest first")
    .option("--name <name>", "only versions of this artifact (pipeline::invocation::output)")
    .option("--limit <n>", "at most this many versions", positiveInteger, 20)
    .action(async (flags: { name?: string; limit: number }) => {
      const versions = await new Client().listArtifactVersions({ artifactName: flags.name, limit: flags.limit });
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

  artifacts
    .command("show")
    .description("an artifact version's metadata and its value")
    .argument("<id>", "artifact version id or unique id prefix")
    .action(async (ref: string) => {
      const client = new Client();
      const version = await client.getArtifactVersion(await resolveArtifactId(ref));
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
      console.log(`value:\n${formatValue(await client.loadArtifact(version.id))}`);
    });
}
