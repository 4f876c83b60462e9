/**
 * The iPXE scripts the boot server answers with. A site's DHCP points every node at
 * /boot/boot.ipxe, which chains to /boot/ipxe?mac=<the booting NIC's MAC>; that answer depends
 * on the node's boot plan: boot the deploy agent (kernel + initrd over HTTP, with the callback
 * URL, node UUID and per-deployment token on the kernel command line), boot the local disk, or
 * exit so the firmware moves on to its next boot device.
 */

/** What a node should boot the next time it PXE-boots. */
export type BootPlan =
  | {
      kind: "agent";
      nodeUuid: string;
      /** The per-deployment bearer token (newAgentToken()); valid while a session expects it. */
      token: string;
      /** Base URL the agent calls back to; default `<publicUrl>/agent/v1`. */
      callbackUrl?: string;
      /** Extra kernel arguments (e.g. a different console). */
      kernelArgs?: string;
    }
  | { kind: "local" };

/** Kernel arguments every agent boot gets: serial console first, then the VGA one. */
const AGENT_CONSOLE = "console=tty0 console=ttyS0,115200n8";

/** iPXE's variable for the MAC of the interface it last opened — the one that booted. */
// biome-ignore lint/suspicious/noTemplateCurlyInString: iPXE's own variable syntax, not JS.
const BOOT_MAC = "${netX/mac}";

const MAC = /^[0-9a-f]{2}([:-]?[0-9a-f]{2}){5}$/i;

/** The canonical form of a MAC (lowercase, colon-separated), or undefined if it is not one. */
export function normalizeMac(mac: string): string | undefined {
  const trimmed = mac.trim();
  if (!MAC.test(trimmed)) return undefined;
  const hex = trimmed.replace(/[:-]/g, "").toLowerCase();
  return hex.match(/../g)?.join(":");
}

/** The script every node fetches first: chain to the per-MAC script (iPXE of 2019 resolves no relative URI with a query). */
export function chainScript(publicUrl: string): string {
  return ["#!ipxe", `chain ${publicUrl}/boot/ipxe?mac=${BOOT_MAC} || exit`, ""].join("\n");
}

/** The per-node script for `plan` (none: exit, so the firmware boots its next device). */
export function nodeScript(plan: BootPlan | undefined, publicUrl: string): string {
  if (!plan)
    return ["#!ipxe", `echo mulligan: no boot plan for ${BOOT_MAC}`, "exit", ""].join("\n");
  if (plan.kind === "local")
    return [
      "#!ipxe",
      "echo mulligan: booting from local disk",
      "sanboot --no-describe --drive 0x80 || exit",
      "",
    ].join("\n");
  const callback = plan.callbackUrl ?? `${publicUrl}/agent/v1`;
  const args = [
    AGENT_CONSOLE,
    "panic=-1",
    "quiet",
    `mulligan.callback=${callback}`,
    `mulligan.node=${plan.nodeUuid}`,
    `mulligan.token=${plan.token}`,
    plan.kernelArgs ?? "",
  ]
    .filter((a) => a !== "")
    .join(" ");
  return [
    "#!ipxe",
    `echo mulligan: booting the deploy agent for ${plan.nodeUuid}`,
    `kernel ${publicUrl}/boot/agent/vmlinuz ${args}`,
    `initrd ${publicUrl}/boot/agent/initrd`,
    "boot",
    "",
  ].join("\n");
}
