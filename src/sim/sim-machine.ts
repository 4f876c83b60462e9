/**
 * The simulated node as its BMC sees it: power and boot over QMP on the guest of sim-qemu.ts,
 * plus the Boot source override the BMC keeps in `boot.json` (so the Redfish emulator and the
 * ipmi_sim hook, each its own process, agree on it). Power on applies the override to the
 * devices' bootindex, resets and resumes the guest; a "Once" override is consumed by that boot,
 * as on a real BMC. Power is "on" while the guest runs (or has crashed: the machine is still
 * powered), "off" while QEMU holds it paused.
 */
import { readFile, rename, writeFile } from "node:fs/promises";
import type { BootDevice, PowerState } from "../executor/drivers/bmc-driver.js";
import { QmpClient } from "../executor/drivers/qemu/qmp-client.js";
import { DEVICE_IDS, type SimFiles } from "./sim-qemu.js";

/** Redfish's BootSourceOverrideEnabled; IPMI's "persistent" is Continuous. */
export type OverrideMode = "Disabled" | "Once" | "Continuous";

/** The boot override the BMC holds. */
export interface BootOverride {
  target: BootDevice | null;
  mode: OverrideMode;
}

/** The bootindex of each device for a boot target; `null` is the BIOS's own order. */
const BOOT_ORDERS: Record<BootDevice | "default", Partial<Record<BootDevice, number>>> = {
  default: { disk: 1, pxe: 2 },
  pxe: { pxe: 1, disk: 2 },
  disk: { disk: 1 },
  cdrom: { cdrom: 1, disk: 2 },
};

const QOM_PATHS: Record<BootDevice, string> = {
  pxe: `/machine/peripheral/${DEVICE_IDS.nic}`,
  disk: `/machine/peripheral/${DEVICE_IDS.disk}`,
  cdrom: `/machine/peripheral/${DEVICE_IDS.cdrom}`,
};

export class SimMachine {
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly files: SimFiles) {}

  async powerState(): Promise<PowerState> {
    const status = await this.qmp((q) => q.execute<{ status: string }>("query-status"));
    return ["running", "guest-panicked", "internal-error"].includes(status.status) ? "on" : "off";
  }

  /** Power on (or restart): the boot override decides the order, then reset and run. */
  async powerOn(): Promise<void> {
    const override = await this.bootOverride();
    await this.qmp(async (q) => {
      await q.execute("stop");
      await applyBootOrder(q, override.target ?? "default");
      await q.execute("system_reset");
      await q.execute("cont");
    });
    if (override.mode === "Once") await this.setBootOverride({ target: null, mode: "Disabled" });
  }

  /** Cuts the power: the guest stops where it is. */
  async forceOff(): Promise<void> {
    await this.qmp((q) => q.execute("stop"));
  }

  /** Presses the ACPI power button; an OS that listens powers off, others ignore it. */
  async gracefulShutdown(): Promise<void> {
    await this.qmp((q) => q.execute("system_powerdown"));
  }

  async bootOverride(): Promise<BootOverride> {
    try {
      return JSON.parse(await readFile(this.files.bootState, "utf8")) as BootOverride;
    } catch {
      return { target: null, mode: "Disabled" };
    }
  }

  async setBootOverride(override: BootOverride): Promise<void> {
    const next = override.mode === "Disabled" ? { target: null, mode: "Disabled" } : override;
    const tmp = `${this.files.bootState}.tmp`;
    await writeFile(tmp, JSON.stringify(next));
    await rename(tmp, this.files.bootState);
  }

  /** Puts `file` (an ISO) into the virtual CD drive. */
  async insertMedia(file: string): Promise<void> {
    await this.qmp((q) =>
      q.execute("blockdev-change-medium", {
        id: DEVICE_IDS.cdrom,
        filename: file,
        format: "raw",
        "read-only-mode": "read-only",
      }),
    );
  }

  async ejectMedia(): Promise<void> {
    await this.qmp((q) => q.execute("eject", { id: DEVICE_IDS.cdrom, force: true }));
  }

  /** One QMP connection at a time (QEMU serves one client per socket). */
  private qmp<T>(work: (q: QmpClient) => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      const client = await QmpClient.connect(this.files.bmcQmp);
      try {
        return await work(client);
      } finally {
        client.close();
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/** Gives the devices the bootindex of `target`; indexes must stay unique at every step. */
async function applyBootOrder(q: QmpClient, target: BootDevice | "default"): Promise<void> {
  const order = BOOT_ORDERS[target];
  for (const path of Object.values(QOM_PATHS)) {
    await q.execute("qom-set", { path, property: "bootindex", value: -1 });
  }
  for (const [device, index] of Object.entries(order)) {
    await q.execute("qom-set", {
      path: QOM_PATHS[device as BootDevice],
      property: "bootindex",
      value: index,
    });
  }
}
