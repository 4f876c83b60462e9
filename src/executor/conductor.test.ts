/**
 * The conductor's own decisions, with the control plane played by a recording TaskReporter and
 * real BMC drivers pointed at a closed port: a node task delivered again after a restart is
 * failed CONDUCTOR_RESTARTED (not resumed), an unreachable BMC fails verify with the driver's
 * reason, a task without its node is refused — and the password appears in no report.
 */
import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import pino from "pino";
import {
  type ReportTaskRequestSchema,
  type ReportTaskResponse,
  ReportTaskResponseSchema,
  TaskKind,
  TaskSchema,
} from "../gen/mulligan/control/v1/control_pb.js";
import { BmcDriver } from "../gen/mulligan/control/v1/node_pb.js";
import { Conductor } from "./conductor.js";
import { ImageCache } from "./image-cache.js";
import type { TaskReporter } from "./task-lease.js";

const logger = pino({ level: "silent" });
const PASSWORD = "conductor-test-pw";
let dir: string;
let conductor: Conductor;
let closedPort: number;

type Report = MessageInitShape<typeof ReportTaskRequestSchema>;

class Recorder implements TaskReporter {
  readonly reports: Report[] = [];
  async reportTask(request: Report): Promise<ReportTaskResponse> {
    this.reports.push(structuredClone(request));
    return create(ReportTaskResponseSchema, {});
  }
  get failure() {
    const last = this.reports.at(-1);
    return last?.result?.case === "failure" ? last.result.value : undefined;
  }
}

function nodeTask(kind: TaskKind, deliveries: number, withNode = true) {
  return create(TaskSchema, {
    uuid: "01a23af1-0000-7000-8000-000000000001",
    kind,
    leaseToken: "lease",
    leaseExpireTime: timestampFromDate(new Date(Date.now() + 30_000)),
    deliveries,
    ...(withNode
      ? {
          node: {
            nodeUuid: "01a23af1-0000-7000-8000-0000000000aa",
            nodeName: "bm-x",
            bootMacs: ["52:54:00:00:00:01"],
            bmc: {
              driver: BmcDriver.IPMI,
              address: "127.0.0.1",
              port: closedPort,
              username: "admin",
              password: PASSWORD,
            },
          },
        }
      : {}),
  });
}

before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mulligan-conductor-"));
  conductor = await Conductor.start(
    { group: "default", bmcTimeoutMs: 1_000, bmcRetries: 0 },
    dir,
    logger,
  );
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  closedPort = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
});

after(async () => {
  await conductor.close();
  await rm(dir, { recursive: true, force: true });
});

const run = (task: ReturnType<typeof nodeTask>, reporter: Recorder) =>
  conductor.run(task, reporter, new ImageCache(dir), logger);

test("a deploy delivered again after a restart fails CONDUCTOR_RESTARTED instead of resuming", async () => {
  const r = new Recorder();
  assert.equal(await run(nodeTask(TaskKind.DEPLOY_NODE, 2), r), "failed");
  assert.equal(r.failure?.reason, "CONDUCTOR_RESTARTED");
  assert.equal(r.failure?.step, "deploy");
  assert.equal(r.failure?.hostFault, true);
});

test("verify against a BMC that does not answer fails with the driver's reason", async () => {
  const r = new Recorder();
  assert.equal(await run(nodeTask(TaskKind.VERIFY_NODE, 1), r), "failed");
  assert.equal(r.failure?.step, "verify");
  assert.ok(
    ["BMC_UNREACHABLE", "BMC_TIMEOUT", "BMC_TOOL_MISSING"].includes(r.failure?.reason ?? ""),
    `reason ${r.failure?.reason}: ${r.failure?.message}`,
  );
  const text = JSON.stringify(r.reports, (_k, v) => (typeof v === "bigint" ? String(v) : v));
  assert.ok(!text.includes(PASSWORD), "the password is in a report");
});

test("a node task without its node is refused as TASK_INVALID", async () => {
  const r = new Recorder();
  assert.equal(await run(nodeTask(TaskKind.CLEAN_NODE, 1, false), r), "failed");
  assert.equal(r.failure?.reason, "TASK_INVALID");
});
