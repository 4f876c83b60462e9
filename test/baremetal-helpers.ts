/**
 * What the bare-metal tests share (baremetal-suite.ts, baremetal-faults.test.ts): the check for
 * the tools and the built agent and test OS, polling a node's state, and registering the test OS.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ImageFormat, ImageService } from "../src/gen/mulligan/control/v1/control_pb.js";
import { type Node, NodeService, NodeState } from "../src/gen/mulligan/control/v1/node_pb.js";
import { requireTools } from "./bmc-helpers.js";
import type { TestServer } from "./harness.js";

const REPO = join(import.meta.dirname, "..");
/** The deploy agent's kernel and initrd (scripts/build-deploy-agent.sh). */
export const AGENT_DIR = join(REPO, ".cache", "deploy-agent");
/** The test OS disk image and its image.json (scripts/build-deploy-image.sh). */
export const IMAGE_DIR = join(REPO, ".cache", "deploy-image");

/** Fails with what to install or build when a piece of the real flow is missing. */
export async function requireBareMetal(): Promise<void> {
  await requireTools([
    ["qemu-system-x86_64", "qemu-system-x86"],
    ["qemu-img", "qemu-utils"],
    ["ipmi_sim", "openipmi"],
    ["ipmitool", "ipmitool"],
  ]);
  for (const [file, script] of [
    [join(AGENT_DIR, "initrd.img"), "scripts/build-deploy-agent.sh"],
    [join(IMAGE_DIR, "disk.raw"), "scripts/build-deploy-image.sh"],
  ] as const)
    if (!existsSync(file)) throw new Error(`${file} is missing: run ${script} first`);
}

/**
 * The node once it is `want`; fails when it lands in its failure state instead (unless
 * `orFailed`: then waiting for a failure state is the point) or after `ms`.
 */
export async function untilNode(
  server: TestServer,
  ref: string,
  want: NodeState,
  ms: number,
  orFailed = false,
): Promise<Node> {
  const end = Date.now() + ms;
  for (;;) {
    const n = (await server.client(NodeService).getNode({ node: ref })).node;
    if (n?.state === want) return n;
    const failed = n && n.failedState !== NodeState.UNSPECIFIED && n.state === n.failedState;
    if ((failed && !orFailed) || Date.now() > end)
      assert.fail(
        `node ${ref} is ${NodeState[n?.state ?? 0]} (${n?.lastError?.reason} ${n?.message}), not ${NodeState[want]}`,
      );
    await new Promise((r) => setTimeout(r, 500));
  }
}

/** Registers the test OS as `name`, from `source` (default the built disk.raw). */
export async function registerDeployImage(
  server: TestServer,
  name: string,
  source = join(IMAGE_DIR, "disk.raw"),
): Promise<void> {
  const meta = JSON.parse(readFileSync(join(IMAGE_DIR, "image.json"), "utf8"));
  await server.client(ImageService).registerImage({
    name,
    source: { case: "disk", value: { source, format: ImageFormat.RAW, sha256: meta.sha256 } },
    bootMarker: meta.boot_marker,
  });
}
