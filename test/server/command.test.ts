// `weir server` as a user starts it: the built CLI in a child process.
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const ROOT = resolve(fileURLToPath(new URL("../..", import.meta.url)));

function startWeirServer(home: string, env: Record<string, string> = {}) {
  const child = spawn(process.execPath, [join(ROOT, "bin/weir.js"), "server", "--port", "0"], {
    cwd: ROOT,
    env: { ...process.env, WEIR_HOME: home, WEIR_SERVER_TOKEN: "", ...env },
  });
  let output = "";
  const ready = new Promise<string>((done, fail) => {
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (/^token/m.test(output)) done(output);
    });
    child.once("exit", (code) => fail(new Error(`weir server exited (${code}): ${output}`)));
  });
  const stop = () => new Promise<number | null>((done) => (child.once("exit", done), child.kill("SIGTERM")));
  return { ready, stop };
}

describe("weir server", () => {
  it("binds 127.0.0.1, generates and keeps a token on first start, and needs it", async () => {
    if (!existsSync(join(ROOT, "dist/cli/main.js"))) throw new Error("run `npm run build` first");
    const home = mkdtempSync(join(tmpdir(), "weir-server-cli-"));
    const first = startWeirServer(home);
    const out = await first.ready;
    const url = /listening on (http:\/\/\S+)/.exec(out)![1];
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const token = /token \(generated, kept in (.+)\): (\S+)/.exec(out)!;
    expect(token[1]).toBe(join(home, "server-token"));
    expect(readFileSync(token[1], "utf8").trim()).toBe(token[2]);
    expect(statSync(token[1]).mode & 0o077).toBe(0);
    expect((await fetch(`${url}/api/health`)).status).toBe(200);
    expect((await fetch(`${url}/api/runs`)).status).toBe(401);
    expect((await fetch(`${url}/api/runs`, { headers: { Authorization: `Bearer ${token[2]}` } })).status).toBe(200);
    expect(await first.stop()).toBe(0);

    // The second start reuses the kept token and does not print it; WEIR_SERVER_TOKEN wins over it.
    const second = startWeirServer(home, { WEIR_SERVER_TOKEN: "from-the-environment" });
    const out2 = await second.ready;
    expect(out2).toContain("token: from WEIR_SERVER_TOKEN");
    expect(out2).not.toContain(token[2]);
    const url2 = /listening on (http:\/\/\S+)/.exec(out2)![1];
    expect((await fetch(`${url2}/api/runs`, { headers: { Authorization: "Bearer from-the-environment" } })).status).toBe(200);
    expect(await second.stop()).toBe(0);
  });
});
