/**
 * Server reflection, proved with a client that knows nothing of Mulligan: `buf curl` lists
 * the services and calls MetadataService through reflection alone. The reflection answers
 * themselves are checked with the TS client (dependencies, unknown symbols).
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { join } from "node:path";
import { it } from "node:test";
import { fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code } from "@connectrpc/connect";
import {
  ServerReflection,
  type ServerReflectionResponse,
} from "../src/gen/grpc/reflection/v1/reflection_pb.js";
import { forEachStore } from "./harness.js";

const BUF = join(import.meta.dirname, "..", "node_modules", ".bin", "buf");

/** Runs buf curl against the server; resolves with stdout, rejects with stderr. */
function bufCurl(args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      BUF,
      ["curl", "--protocol", "grpc", "--http2-prior-knowledge", ...args],
      { timeout: 60_000 },
      (err, stdout, stderr) =>
        err
          ? reject(new Error(`buf curl ${args.join(" ")} failed: ${stderr || err.message}`))
          : resolve(stdout),
    );
  });
}

forEachStore("reflection", (server) => {
  it("lets buf curl list every service", async () => {
    const out = await bufCurl(["--list-services", server().url]);
    assert.deepEqual(out.trim().split("\n").sort(), [
      "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "mulligan.catalog.v1.CatalogService",
      "mulligan.control.v1.ExecutorService",
      "mulligan.control.v1.ImageService",
      "mulligan.control.v1.MachineService",
      "mulligan.control.v1.NodeService",
      "mulligan.iam.v1.IdentityService",
      "mulligan.meta.v1.MetadataService",
      "mulligan.resource.v1.ResourceService",
    ]);
  });

  it("lets buf curl list the methods of every service", async () => {
    const out = await bufCurl(["--list-methods", server().url]);
    const methods = out.trim().split("\n");
    assert.ok(methods.includes("mulligan.meta.v1.MetadataService/ListRegions"), out);
    assert.ok(methods.includes("mulligan.meta.v1.MetadataService/Configure"), out);
    assert.ok(methods.includes("mulligan.iam.v1.IdentityService/Authenticate"), out);
    assert.ok(methods.includes("grpc.health.v1.Health/Watch"), out);
  });

  it("lets buf curl call ListRegions with a bearer token", async () => {
    const s = server();
    const name = "buf-curl-region";
    await s
      .meta()
      .createRegion({ requestId: "req-buf-curl", name, description: "made by the SDK" });
    const out = await bufCurl([
      "-H",
      `Authorization: Bearer ${s.admin.token}`,
      "-d",
      "{}",
      `${s.url}/mulligan.meta.v1.MetadataService/ListRegions`,
    ]);
    const body = JSON.parse(out) as {
      regions?: { name: string; description?: string; uuid: string }[];
    };
    const region = body.regions?.find((r) => r.name === name);
    assert.ok(region, out);
    assert.equal(region.description, "made by the SDK");
    assert.match(region.uuid, /^[0-9a-f-]{36}$/);
  });

  it("lets buf curl call the public health check, and refuses a call without a token", async () => {
    const s = server();
    const out = await bufCurl(["-d", '{"service":""}', `${s.url}/grpc.health.v1.Health/Check`]);
    assert.deepEqual(JSON.parse(out), { status: "SERVING" });
    await assert.rejects(
      bufCurl(["-d", "{}", `${s.url}/mulligan.meta.v1.MetadataService/ListRegions`]),
      /unauthenticated/,
    );
  });

  it("answers with the file and all its dependencies, and NOT_FOUND for unknown names", async () => {
    const reflection = server().client(ServerReflection, "");
    const requests = [
      {
        messageRequest: {
          case: "fileContainingSymbol" as const,
          value: "mulligan.meta.v1.MetadataService.ListRegions",
        },
      },
      {
        messageRequest: {
          case: "fileByFilename" as const,
          value: "mulligan/catalog/v1/catalog.proto",
        },
      },
      {
        messageRequest: {
          case: "fileContainingSymbol" as const,
          value: "mulligan.meta.v1.NoSuchThing",
        },
      },
      { messageRequest: { case: "fileByFilename" as const, value: "no/such.proto" } },
    ];
    async function* send() {
      yield* requests;
    }
    const answers: ServerReflectionResponse[] = [];
    for await (const res of reflection.serverReflectionInfo(send())) answers.push(res);
    assert.equal(answers.length, 4);
    const names = (i: number) => {
      const r = answers[i]?.messageResponse;
      assert.equal(r?.case, "fileDescriptorResponse");
      return r.value.fileDescriptorProto.map((b) => fromBinary(FileDescriptorProtoSchema, b).name);
    };
    const meta = names(0);
    assert.equal(meta[0], "mulligan/meta/v1/meta.proto");
    for (const dep of [
      "google/protobuf/field_mask.proto",
      "google/protobuf/timestamp.proto",
      "mulligan/common/v1/common.proto",
    ])
      assert.ok(meta.includes(dep), `missing ${dep} in [${meta.join(", ")}]`);
    assert.deepEqual(names(1), [
      "mulligan/catalog/v1/catalog.proto",
      "google/protobuf/timestamp.proto",
    ]);
    for (const i of [2, 3]) {
      const r = answers[i]?.messageResponse;
      assert.equal(r?.case, "errorResponse");
      assert.equal(r.value.errorCode, Code.NotFound);
    }
    assert.equal(answers[2]?.originalRequest?.messageRequest.value, "mulligan.meta.v1.NoSuchThing");
  });
});
