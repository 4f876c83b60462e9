/**
 * `mulligan claim`, `release`, `allocations` and `reservation list`: what consumers hold, now
 * and in future windows (ResourceService).
 */
import { Command } from "commander";
import {
  type Allocation,
  ClaimResponseSchema,
  type Consumer,
  GetAllocationsResponseSchema,
  type ProviderAllocation,
  ProviderAllocationSchema,
  type TimeWindow,
} from "../../gen/mulligan/resource/v1/resource_pb.js";
import { requestId, withClient } from "../context.js";
import { UsageError } from "../exit-codes.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import { type Column, printDocument, printList, printOne, time, write } from "../output.js";
import { collect, count } from "../parse.js";
import { resourcesOf, type WindowFlags, windowOf, withWindow } from "../resource-values.js";

/** `MEMORY_MB=512, VCPU=2`: a class → amount map for people, classes in name order. */
export function amounts(resources: Record<string, bigint>): string {
  return Object.entries(resources)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
}

/** A window as `START → END` ("open-ended" without an end). */
export function windowText(w: TimeWindow | undefined): string {
  if (!w) return "";
  return `${time(w.start) || "now"} → ${time(w.end) || "open-ended"}`;
}

/** What a consumer holds: the shape shared by Claim, ClaimBest and GetAllocations answers. */
interface Held {
  consumer?: Consumer;
  allocations: Allocation[];
}

/** Rows of the key/value view of a consumer and its allocations. */
export const HELD_DETAIL: Column<Held>[] = [
  { header: "consumer", value: (h) => h.consumer?.uuid ?? "" },
  { header: "project", value: (h) => h.consumer?.projectUuid ?? "" },
  { header: "user", value: (h) => h.consumer?.userUuid ?? "" },
  { header: "type", value: (h) => h.consumer?.consumerType ?? "" },
  { header: "generation", value: (h) => String(h.consumer?.generation ?? "") },
  { header: "window", value: (h) => windowText(h.consumer?.window) },
  {
    header: "allocations",
    value: (h) => h.allocations.map((a) => `${a.providerName}: ${amounts(a.resources)}`).join("\n"),
  },
];

/** The options naming a consumer's owner and type (`claim`, `claim-best`). */
export interface OwnerOptions {
  project?: string;
  user?: string;
  consumerType?: string;
}

/** Adds `--project`, `--user` and `--consumer-type`. */
export function withOwner(cmd: Command): Command {
  return cmd
    .option("--project <project>", "owning project (default: the token's)")
    .option("--user <account>", "owning account (default: the caller)")
    .option("--consumer-type <type>", "free-form consumer type such as INSTANCE or MIGRATION");
}

/** The owner fields of a claim request. */
export function ownerOf(o: OwnerOptions) {
  return { project: o.project ?? "", user: o.user ?? "", consumerType: o.consumerType ?? "" };
}

const RESERVATION_COLUMNS: Column<ProviderAllocation>[] = [
  { header: "CONSUMER", value: (a) => a.consumer?.uuid ?? "" },
  { header: "PROJECT", value: (a) => a.consumer?.projectUuid ?? "" },
  { header: "TYPE", value: (a) => a.consumer?.consumerType ?? "" },
  { header: "START", value: (a) => time(a.consumer?.window?.start) },
  { header: "END", value: (a) => time(a.consumer?.window?.end) },
  { header: "RESOURCES", value: (a) => amounts(a.resources) },
];

interface ClaimOptions extends OwnerOptions, WindowFlags {
  provider?: string[];
  resources?: string[];
  consumerGeneration?: string;
  requestId?: string;
}

const generationHelp = "the consumer generation last seen; a stale one is refused";

/** `claim`, `release`, `allocations` and `reservation`. */
export function claimCommands(): Command[] {
  const claim = withRequestId(
    withWindow(
      withOwner(
        new Command("claim")
          .argument("<consumer>", "consumer UUID")
          .description("write a consumer's whole allocation set (replaces what it holds)")
          .option(
            "--provider <provider>",
            "a provider (repeatable; pairs with --resources)",
            collect,
          )
          .option("--resources <list>", "CLASS=AMOUNT,… on the matching --provider", collect)
          .option("--consumer-generation <n>", `${generationHelp} (omit for a new consumer)`),
      ),
      "the allocations",
    ),
  ).action(async (consumer: string, o: ClaimOptions, cmd: Command) => {
    const providers = o.provider ?? [];
    const resources = o.resources ?? [];
    if (providers.length === 0)
      throw new UsageError("give --provider P --resources R at least once (or use `release`)");
    if (providers.length !== resources.length)
      throw new UsageError("give one --resources for each --provider, in the same order");
    const request = {
      requestId: requestId(o),
      consumer,
      consumerGeneration: generationOf(o),
      ...ownerOf(o),
      allocations: providers.map((provider, i) => ({
        provider,
        resources: resourcesOf(resources[i] ?? "", "--resources"),
      })),
      window: windowOf(o),
    };
    await withClient(cmd, async (client, g) => {
      const res = await client.resource.claim(request);
      printOne(g.output, ClaimResponseSchema, res, HELD_DETAIL);
    });
  });

  const release = withRequestId(
    new Command("release")
      .argument("<consumer>", "consumer UUID")
      .description("remove every allocation of a consumer")
      .option("--consumer-generation <n>", generationHelp),
  ).action(
    async (
      consumer: string,
      o: { consumerGeneration?: string; requestId?: string },
      cmd: Command,
    ) => {
      const request = { requestId: requestId(o), consumer, consumerGeneration: generationOf(o) };
      await withClient(cmd, async (client, g) => {
        await client.resource.release(request);
        if (g.output === "table") write(`released consumer ${consumer}`);
        else printDocument(g.output, { released: consumer });
      });
    },
  );

  const allocations = new Command("allocations")
    .argument("<consumer>", "consumer UUID")
    .description("show what a consumer holds")
    .action(async (consumer: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const res = await client.resource.getAllocations({ consumer });
        printOne(g.output, GetAllocationsResponseSchema, res, HELD_DETAIL);
      }),
    );

  const reservation = new Command("reservation").description(
    "allocations held on a provider, current and future",
  );
  withLimit(
    withWindow(
      reservation
        .command("list <provider>")
        .description("list the allocations on a provider (only those overlapping the window)"),
      "the window",
    ),
  ).action(async (provider: string, o: WindowFlags & { limit?: number }, cmd: Command) => {
    const window = windowOf(o);
    await withClient(cmd, async (client, g) => {
      const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
        const res = await client.resource.listProviderAllocations({
          provider,
          pageSize,
          pageToken,
          window,
        });
        return { items: res.allocations, nextPageToken: res.nextPageToken };
      });
      printList(g.output, ProviderAllocationSchema, rows, RESERVATION_COLUMNS);
    });
  });

  return [claim, release, allocations, reservation];
}

function generationOf(o: { consumerGeneration?: string }): bigint | undefined {
  return o.consumerGeneration === undefined
    ? undefined
    : BigInt(count(o.consumerGeneration, "--consumer-generation"));
}
