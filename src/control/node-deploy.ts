/**
 * Where machines meet nodes: a bare-metal machine's build is the node's deploy (AVAILABLE →
 * DEPLOYING with a DEPLOY_NODE task for its conductor), its teardown the node's undeploy (→
 * CLEANING with an UNDEPLOY_NODE task: power off, erase, AVAILABLE). Both run inside the
 * machine's transaction, so the machine and its node never disagree.
 */
import type { Image, Machine } from "./model.js";
import { canNodeTransition } from "./node-lifecycle.js";
import * as nodeRepo from "./node-repo.js";
import { startStep } from "./nodes.js";

type Tx = Parameters<typeof nodeRepo.getNode>[0];

/**
 * Starts deploying the machine on the node it claimed; false when the node cannot take it now
 * (not AVAILABLE or in maintenance), and the caller gives the claim back.
 */
export async function deployNode(
  tx: Tx,
  m: Machine,
  nodeUuid: string,
  image: Image,
  at: string,
): Promise<boolean> {
  const n = await nodeRepo.getNode(tx, nodeUuid);
  if (n?.state !== "AVAILABLE" || n.maintenance) return false;
  await startStep(tx, n, "DEPLOYING", "DEPLOY_NODE", `deploying machine ${m.name}`, at, m.uuid, {
    image,
    hostname: m.name,
    sshKeys: m.spec.sshKeys,
    userData: m.spec.userData,
  });
  return true;
}

/**
 * Starts the teardown of a bare-metal machine: its node is powered off and cleaned. A deploy
 * still running is failed first (its task was cancelled by the decommission). False when the
 * node is gone or cannot be cleaned: nothing runs, the machine is simply deleted.
 */
export async function undeployNode(tx: Tx, m: Machine, at: string): Promise<boolean> {
  let n = await nodeRepo.getNode(tx, m.hostUuid);
  if (!n) return false;
  if (n.state === "DEPLOYING") {
    await nodeRepo.transitionNode(tx, n, "DEPLOY_FAILED", {
      targetState: "",
      targetPowerState: "",
      failedState: "DEPLOY_FAILED",
      lastError: { step: "deploy", reason: "DEPLOY_CANCELLED", message: "decommissioned" },
      message: "deploy cancelled by a decommission",
      at,
    });
    n = await nodeRepo.getNode(tx, m.hostUuid);
    if (!n) return false;
  }
  if (!canNodeTransition(n.state, "CLEANING")) return false;
  await startStep(tx, n, "CLEANING", "UNDEPLOY_NODE", `undeploying machine ${m.name}`, at, m.uuid);
  return true;
}
