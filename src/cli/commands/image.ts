/**
 * `mulligan image …`: the images machines boot from (ImageService). Local files are given to
 * the server as absolute paths (the hosts read them there) and, without an explicit checksum,
 * hashed here by streaming them; `add-test-image` builds the tiny test guest with
 * scripts/build-test-image.sh and registers it as a fleet image.
 */
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { createReadStream, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { Command } from "commander";
import {
  type Image,
  ImageFormat,
  ImageSchema,
  type RegisterImageRequestSchema,
} from "../../gen/mulligan/control/v1/control_pb.js";
import { type GlobalOptions, requestId, withClient } from "../context.js";
import { EXIT, UsageError } from "../exit-codes.js";
import { collectPages, limitOf, withLimit, withRequestId } from "../options.js";
import { type Column, printDeleted, printList, printOne, time } from "../output.js";
import { enumChoices, enumValue } from "../parse.js";

const SHA256 = /^[0-9a-f]{64}$/;
const URL_SOURCE = /^https?:\/\//i;
/** The repository root: this file is src/cli/commands/image.ts. */
const REPO_ROOT = fileURLToPath(new URL("../../..", import.meta.url));

/** "disk" or "kernel". */
function kindOf(i: Image): string {
  return i.source.case ?? "";
}

/** Where the image comes from, one line per file. */
function sourceOf(i: Image): string {
  if (i.source.case === "disk") return i.source.value.source;
  if (i.source.case === "kernel") return `${i.source.value.kernel}\n${i.source.value.initrd}`;
  return "";
}

const IMAGE_COLUMNS: Column<Image>[] = [
  { header: "NAME", value: (i) => i.name },
  { header: "KIND", value: kindOf },
  {
    header: "FORMAT",
    value: (i) =>
      i.source.case === "disk" ? (ImageFormat[i.source.value.format] ?? "").toLowerCase() : "",
  },
  { header: "PROJECT", value: (i) => i.projectUuid || "(fleet)" },
  { header: "SOURCE", value: sourceOf },
  { header: "UUID", value: (i) => i.uuid },
];

/** Rows of the key/value view of one image. */
function imageDetail(i: Image): Column<Image>[] {
  const rows: Column<Image>[] = [
    { header: "name", value: (x) => x.name },
    { header: "uuid", value: (x) => x.uuid },
    { header: "project", value: (x) => x.projectUuid || "(fleet)" },
    { header: "kind", value: kindOf },
  ];
  const s = i.source;
  if (s.case === "disk")
    rows.push(
      { header: "source", value: () => s.value.source },
      { header: "format", value: () => (ImageFormat[s.value.format] ?? "").toLowerCase() },
      { header: "sha256", value: () => s.value.sha256 },
    );
  else if (s.case === "kernel")
    rows.push(
      { header: "kernel", value: () => s.value.kernel },
      { header: "kernel sha256", value: () => s.value.kernelSha256 },
      { header: "initrd", value: () => s.value.initrd },
      { header: "initrd sha256", value: () => s.value.initrdSha256 },
      { header: "cmdline", value: () => s.value.cmdline },
    );
  rows.push(
    { header: "boot marker", value: (x) => x.bootMarker },
    { header: "created", value: (x) => time(x.createTime) },
  );
  return rows;
}

function printImage(format: GlobalOptions["output"], image: Image): void {
  printOne(format, ImageSchema, image, imageDetail(image));
}

/** The hex SHA-256 of a local file, read as a stream. */
export async function sha256File(path: string, what: string): Promise<string> {
  const hash = createHash("sha256");
  try {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  } catch (err) {
    throw new UsageError(`${what} ${path}: ${(err as Error).message}`);
  }
  return hash.digest("hex");
}

/** A given checksum, checked, or the file's own (a URL needs one given). */
async function checksum(source: string, given: string | undefined, what: string, file: string) {
  if (given !== undefined) {
    const hex = given.trim().toLowerCase();
    if (!SHA256.test(hex)) throw new UsageError(`${what} "${given}" must be 64 hex digits`);
    return hex;
  }
  if (URL_SOURCE.test(source)) throw new UsageError(`${what} is required for a URL source`);
  return sha256File(source, file);
}

/** A local path made absolute (the server wants absolute paths); URLs unchanged. */
function located(source: string): string {
  return URL_SOURCE.test(source) || isAbsolute(source) ? source : resolve(source);
}

interface AddOptions {
  disk?: string;
  format?: string;
  kernel?: string;
  initrd?: string;
  cmdline?: string;
  sha256?: string;
  kernelSha256?: string;
  initrdSha256?: string;
  project?: string;
  bootMarker?: string;
  requestId?: string;
}

/** The source part of a RegisterImage request, from the flags (hashing local files). */
async function sourceOfFlags(
  o: AddOptions,
): Promise<MessageInitShape<typeof RegisterImageRequestSchema>["source"]> {
  const kernelFlags = o.kernel !== undefined || o.initrd !== undefined;
  if (o.disk !== undefined && kernelFlags)
    throw new UsageError("give --disk or --kernel and --initrd, not both");
  if (o.disk !== undefined) {
    if (o.format === undefined) throw new UsageError("--disk needs --format qcow2|raw");
    if (o.cmdline !== undefined || o.kernelSha256 !== undefined || o.initrdSha256 !== undefined)
      throw new UsageError("--cmdline, --kernel-sha256 and --initrd-sha256 go with --kernel");
    const format = enumValue(ImageFormat, o.format, "--format");
    const source = located(o.disk);
    return {
      case: "disk",
      value: { source, format, sha256: await checksum(source, o.sha256, "--sha256", "--disk") },
    };
  }
  if (o.kernel === undefined || o.initrd === undefined)
    throw new UsageError("give --disk PATH_OR_URL --format F, or --kernel PATH --initrd PATH");
  if (o.format !== undefined) throw new UsageError("--format goes with --disk");
  if (o.sha256 !== undefined)
    throw new UsageError("a kernel image has two files: give --kernel-sha256 and --initrd-sha256");
  const kernel = located(o.kernel);
  const initrd = located(o.initrd);
  return {
    case: "kernel",
    value: {
      kernel,
      kernelSha256: await checksum(kernel, o.kernelSha256, "--kernel-sha256", "--kernel"),
      initrd,
      initrdSha256: await checksum(initrd, o.initrdSha256, "--initrd-sha256", "--initrd"),
      cmdline: o.cmdline ?? "",
    },
  };
}

/** What scripts/build-test-image.sh writes to DIR/image.json. */
interface TestImageJson {
  kernel: string;
  initrd: string;
  cmdline?: string;
  boot_marker?: string;
  kernel_sha256: string;
  initrd_sha256: string;
}

/**
 * Runs scripts/build-test-image.sh DIR with its stderr passed through; resolves to the
 * directory it printed on stdout.
 */
function buildTestImage(dir: string): Promise<string> {
  const script = join(REPO_ROOT, "scripts", "build-test-image.sh");
  return new Promise((done, fail) => {
    const child = spawn("bash", [script, dir], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("error", (err) => fail(new BuildFailed(`cannot run ${script}: ${err.message}`)));
    child.on("close", (code, signal) => {
      if (code === 0) done(out.trim().split("\n").at(-1)?.trim() || dir);
      else fail(new BuildFailed(`${script} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/** The test image build failed: its own output says why (exit 1). */
class BuildFailed extends Error {}

/** The `image` command group. */
export function imageCommand(): Command {
  const image = new Command("image").description("manage the images machines boot from");

  withRequestId(
    image
      .command("add <name>")
      .description(
        "register an image: a disk (--disk, --format) or a kernel and initrd (--kernel, --initrd)",
      )
      .option("--disk <path-or-url>", "disk image: a path on the hosts or an http(s) URL")
      .option("--format <format>", `disk format: ${enumChoices(ImageFormat)}`)
      .option("--kernel <path>", "kernel to boot directly (a path on the hosts)")
      .option("--initrd <path>", "initrd for --kernel")
      .option("--cmdline <text>", "kernel command line")
      .option("--sha256 <hex>", "SHA-256 of --disk (default: computed from the local file)")
      .option("--kernel-sha256 <hex>", "SHA-256 of --kernel (default: computed)")
      .option("--initrd-sha256 <hex>", "SHA-256 of --initrd (default: computed)")
      .option(
        "--project <project>",
        "owning project (default: a fleet image, admins and operators)",
      )
      .option(
        "--boot-marker <regex>",
        "what the guest prints on its console once booted (default: a login prompt or cloud-init's final message)",
      ),
  ).action(async (name: string, o: AddOptions, cmd: Command) => {
    const source = await sourceOfFlags(o);
    await withClient(cmd, async (client, g) => {
      const res = await client.images.registerImage({
        requestId: requestId(o),
        name,
        project: o.project ?? "",
        source,
        bootMarker: o.bootMarker ?? "",
      });
      if (res.image) printImage(g.output, res.image);
    });
  });

  withLimit(image.command("list").description("list the images the caller may use")).action(
    async (o: { limit?: number }, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const rows = await collectPages(limitOf(o), async (pageSize, pageToken) => {
          const res = await client.images.listImages({ pageSize, pageToken });
          return { items: res.images, nextPageToken: res.nextPageToken };
        });
        printList(g.output, ImageSchema, rows, IMAGE_COLUMNS);
      }),
  );

  image
    .command("show <image>")
    .description("show an image (name or UUID)")
    .action(async (ref: string, _o: unknown, cmd: Command) =>
      withClient(cmd, async (client, g) => {
        const res = await client.images.getImage({ image: ref });
        if (res.image) printImage(g.output, res.image);
      }),
    );

  withRequestId(
    image
      .command("delete <image>")
      .description("delete an image (refused while a machine that is not DELETED uses it)"),
  ).action(async (ref: string, o: { requestId?: string }, cmd: Command) =>
    withClient(cmd, async (client, g) => {
      await client.images.deleteImage({ requestId: requestId(o), image: ref });
      printDeleted(g.output, "image", ref);
    }),
  );

  withRequestId(
    image
      .command("add-test-image")
      .description(
        "build the tiny test guest (scripts/build-test-image.sh) and register it as a fleet kernel image",
      )
      .option("--name <name>", "image name", "tiny")
      .option(
        "--dir <dir>",
        "where the files are built and kept (default ~/.cache/mulligan/test-image)",
      ),
  ).action(async (o: { name: string; dir?: string; requestId?: string }, cmd: Command) => {
    const wanted = resolve(o.dir ?? join(homedir(), ".cache", "mulligan", "test-image"));
    let dir: string;
    let meta: TestImageJson;
    try {
      dir = resolve(await buildTestImage(wanted));
      meta = JSON.parse(readFileSync(join(dir, "image.json"), "utf8")) as TestImageJson;
    } catch (err) {
      process.stderr.write(`error: ${(err as Error).message}\n`);
      process.exitCode = EXIT.INTERNAL;
      return;
    }
    const file = (f: string) => (isAbsolute(f) ? f : join(dir, f));
    await withClient(cmd, async (client, g) => {
      try {
        const res = await client.images.registerImage({
          requestId: requestId(o),
          name: o.name,
          project: "",
          source: {
            case: "kernel",
            value: {
              kernel: file(meta.kernel),
              kernelSha256: meta.kernel_sha256,
              initrd: file(meta.initrd),
              initrdSha256: meta.initrd_sha256,
              cmdline: meta.cmdline ?? "",
            },
          },
          bootMarker: meta.boot_marker ?? "",
        });
        if (res.image) printImage(g.output, res.image);
      } catch (err) {
        if (ConnectError.from(err).code !== Code.AlreadyExists) throw err;
        process.stderr.write(`image ${o.name} already exists; keeping it\n`);
        const res = await client.images.getImage({ image: o.name });
        if (res.image) printImage(g.output, res.image);
      }
    });
  });

  return image;
}
