import { describe, expect, it } from "vitest";
import { BaseOrchestrator, ContainerizedOrchestrator, OrchestratorNotSupportedError, type SubmissionResult } from "weir";
import type { SnapshotRecord } from "../../src/stores/metadata/types.js";

class StaticContainers extends ContainerizedOrchestrator {
  async submitPipeline(): Promise<SubmissionResult | undefined> {
    return undefined;
  }
}
class DynamicContainers extends StaticContainers {
  override async submitDynamicPipeline(): Promise<SubmissionResult | undefined> {
    return { waitForCompletion: async () => undefined };
  }
}

const snapshot = { pipelineName: "train" } as SnapshotRecord;

describe("orchestrator base classes", () => {
  it("names an orchestrator after its class unless configured", () => {
    expect(new StaticContainers().name).toBe("StaticContainers");
    expect(new StaticContainers({ name: "k8s-prod" }).name).toBe("k8s-prod");
  });

  it("supports dynamic pipelines exactly when submitDynamicPipeline is overridden, also further down", () => {
    expect(new StaticContainers().supportsDynamicPipelines).toBe(false);
    expect(new DynamicContainers().supportsDynamicPipelines).toBe(true);
  });

  it("the default submitDynamicPipeline refuses, naming the orchestrator", async () => {
    await expect(new StaticContainers({ name: "static-k8s" }).submitDynamicPipeline(snapshot, null as never, {})).rejects.toThrow(
      /orchestrator "static-k8s" does not support dynamic pipelines/,
    );
  });

  it("ContainerizedOrchestrator.getImage takes the configured image, else WEIR_IMAGE, else names what is missing", () => {
    expect(new StaticContainers({ image: "registry.local/weir:1" }).getImage(snapshot)).toBe("registry.local/weir:1");
    const previous = process.env.WEIR_IMAGE;
    try {
      process.env.WEIR_IMAGE = "from-env:2";
      expect(new StaticContainers().getImage(snapshot)).toBe("from-env:2");
      delete process.env.WEIR_IMAGE;
      expect(() => new StaticContainers({ name: "kube" }).getImage(snapshot)).toThrow(OrchestratorNotSupportedError);
      expect(() => new StaticContainers({ name: "kube" }).getImage(snapshot)).toThrow(/orchestrator "kube" needs an image for pipeline "train"/);
    } finally {
      if (previous === undefined) delete process.env.WEIR_IMAGE;
      else process.env.WEIR_IMAGE = previous;
    }
  });

  it("getOrchestratorRunId outside a run says so; inside a launched process it reads WEIR_ORCHESTRATOR_RUN_ID", () => {
    class Plain extends BaseOrchestrator {
      async submitPipeline() {
        return undefined;
      }
    }
    expect(() => new Plain().getOrchestratorRunId()).toThrow(/outside a run/);
    process.env.WEIR_ORCHESTRATOR_RUN_ID = "given-by-parent";
    try {
      expect(new Plain().getOrchestratorRunId()).toBe("given-by-parent");
    } finally {
      delete process.env.WEIR_ORCHESTRATOR_RUN_ID;
    }
  });
});
