/**
 * `mulligan candidates` and `mulligan claim-best`: search for allocation candidates (and, when
 * there are none, say why), or search, weigh and claim in one call (ResourceService).
 */
import { Command } from "commander";
import {
  type Candidate,
  CandidateSchema,
  ClaimBestResponseSchema,
  type FilterStep,
  FilterStepSchema,
  type FindCandidatesResponse,
  FindCandidatesResponseSchema,
  Weigher,
} from "../../gen/mulligan/resource/v1/resource_pb.js";
import { requestId, withClient } from "../context.js";
import { UsageError } from "../exit-codes.js";
import { withRequestId } from "../options.js";
import {
  type Column,
  colors,
  messageJson,
  printDocument,
  printList,
  printOne,
  write,
} from "../output.js";
import { count, enumChoices, enumValue } from "../parse.js";
import { type QueryFlags, queryOf, withQueryFlags } from "../query-flags.js";
import { amounts, HELD_DETAIL, type OwnerOptions, ownerOf, withOwner } from "./claim.js";

const STEP_COLUMNS: Column<FilterStep>[] = [
  { header: "CONSTRAINT", value: (s) => s.constraint },
  { header: "GROUP", value: (s) => s.suffix },
  { header: "BEFORE", value: (s) => String(s.before) },
  { header: "AFTER", value: (s) => String(s.after) },
  // A step's detail is phrased as the reason for an empty set: show it where the set emptied.
  { header: "WHY EMPTY", value: (s) => (s.after === 0 && s.before > 0 ? s.detail : "") },
];

interface ClaimBestOptions extends QueryFlags, OwnerOptions {
  weigher?: string;
  topK?: string;
  requestId?: string;
}

/** `candidates` and `claim-best`. */
export function candidatesCommands(): Command[] {
  const candidates = withQueryFlags(
    new Command("candidates")
      .description("find allocation candidates without claiming; explain when there are none")
      .option(
        "--project <project>",
        "project whose quota candidates must fit (default: the token's)",
      ),
  ).action(async (o: QueryFlags & { project?: string }, cmd: Command) => {
    const query = queryOf(o);
    await withClient(cmd, async (client, g) => {
      const res = await client.resource.findCandidates({ query, project: o.project ?? "" });
      if (g.output !== "table")
        printDocument(g.output, messageJson(FindCandidatesResponseSchema, res));
      else printCandidates(res);
    });
  });

  const claimBest = withRequestId(
    withOwner(
      withQueryFlags(
        new Command("claim-best")
          .argument("<consumer>", "consumer UUID")
          .description("find, weigh and claim the best candidate in one call")
          .option(
            "--weigher <weigher>",
            `how candidates are ordered: ${enumChoices(Weigher)} (default: the server's)`,
          )
          .option("--top-k <n>", "with random-top-k: pick among this many best (default 10)"),
      ),
    ),
  ).action(async (consumer: string, o: ClaimBestOptions, cmd: Command) => {
    const weigher = o.weigher ? enumValue(Weigher, o.weigher, "--weigher") : Weigher.UNSPECIFIED;
    if (o.topK !== undefined && weigher !== Weigher.RANDOM_TOP_K)
      throw new UsageError("--top-k goes with --weigher random-top-k");
    const topK = o.topK === undefined ? 0 : count(o.topK, "--top-k");
    if (topK > 2 ** 31 - 1) throw new UsageError("--top-k is too large");
    const request = {
      requestId: requestId(o),
      consumer,
      ...ownerOf(o),
      query: queryOf(o),
      weigher,
      topK,
    };
    await withClient(cmd, async (client, g) => {
      const res = await client.resource.claimBest(request);
      printOne(g.output, ClaimBestResponseSchema, res, [
        ...HELD_DETAIL,
        { header: "attempts", value: (r) => String(r.attempts) },
      ]);
    });
  });

  return [candidates, claimBest];
}

/** The candidates as a table, or the explanation of why there are none. */
function printCandidates(res: FindCandidatesResponse): void {
  if (res.candidates.length === 0) {
    write(`no candidates: ${res.explanation?.summary || "nothing matched"}`);
    const steps = res.explanation?.steps ?? [];
    if (steps.length > 0) printList("table", FilterStepSchema, steps, STEP_COLUMNS);
    return;
  }
  const names = new Map<string, string>();
  for (const s of res.providerSummaries) names.set(s.providerUuid, s.providerName);
  const nameOf = (uuid: string) => names.get(uuid) ?? uuid;
  const number = new Map(res.candidates.map((c, i) => [c, String(i + 1)]));
  const columns: Column<Candidate>[] = [
    { header: "#", value: (c) => number.get(c) ?? "" },
    {
      header: "ALLOCATIONS",
      value: (c) =>
        c.allocations
          .map((a) => `${a.providerName || nameOf(a.providerUuid)}: ${amounts(a.resources)}`)
          .join("\n"),
    },
    {
      header: "GROUPS",
      value: (c) =>
        c.mappings
          .map(
            (m) =>
              `${m.suffix || colors.dim("(unnamed)")} → ${m.providerUuids.map(nameOf).join(", ")}`,
          )
          .join("\n"),
    },
  ];
  printList("table", CandidateSchema, res.candidates, columns);
}
