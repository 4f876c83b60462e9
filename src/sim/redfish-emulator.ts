/**
 * A Redfish BMC for a simulated node, good enough for the redfish driver and for operators who
 * try Mulligan without hardware: the resources of redfish-resources.ts, authentication by
 * session token (X-Auth-Token) or HTTP basic, the ComputerSystem.Reset action and the Boot
 * override (PATCH) carried out on the node's QEMU guest by SimMachine, and virtual media (the
 * emulator downloads the image and puts it in the guest's CD drive). Status codes follow the
 * Redfish specification: 401 without valid credentials (ServiceRoot and login excepted), 404,
 * 405 with Allow, 400 with a Base registry message for bad input, 204 after an action.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createWriteStream } from "node:fs";
import type { IncomingMessage, RequestListener } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import {
  type Answer,
  HttpError,
  type Json,
  notInList,
  ok,
  readJson,
  send,
} from "./redfish-http.js";
import * as R from "./redfish-resources.js";
import type { SimMachine } from "./sim-machine.js";

/** What an emulator instance serves. */
export interface RedfishEmulatorOptions {
  system: R.EmulatedSystem;
  machine: Pick<
    SimMachine,
    | "powerState"
    | "powerOn"
    | "forceOff"
    | "gracefulShutdown"
    | "bootOverride"
    | "setBootOverride"
    | "insertMedia"
    | "ejectMedia"
  >;
  username: string;
  password: string;
  /** Where an inserted image is stored for the guest's CD drive. */
  mediaPath: string;
  /** Idle seconds before a session expires. */
  sessionTimeoutS?: number;
  /** False emulates a BMC without a session service (basic auth only, like some old ones). */
  sessions?: boolean;
}

/** The request handler of one emulated BMC (for http.createServer or https.createServer). */
export function redfishEmulator(opts: RedfishEmulatorOptions): RequestListener {
  const sessions = new Map<string, { id: string; lastUsed: number }>();
  const media: R.MediaState = { image: null, writeProtected: true };
  const timeoutMs = (opts.sessionTimeoutS ?? 1800) * 1000;
  const digest = (s: string) => createHash("sha256").update(s).digest();
  const same = (a: string, b: string) => timingSafeEqual(digest(a), digest(b));
  const sysPath = R.systemPath(opts.system);

  function authenticate(req: IncomingMessage): void {
    const token = req.headers["x-auth-token"];
    if (typeof token === "string") {
      const session = sessions.get(token);
      if (session && Date.now() - session.lastUsed < timeoutMs) {
        session.lastUsed = Date.now();
        return;
      }
      if (session) sessions.delete(token);
    }
    const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? "");
    if (basic) {
      const [user, ...rest] = Buffer.from(basic[1] as string, "base64")
        .toString()
        .split(":");
      if (same(user ?? "", opts.username) && same(rest.join(":"), opts.password)) return;
    }
    throw new HttpError(401, "NoValidSession", "No valid session or credentials were given", {
      "WWW-Authenticate": 'Basic realm="Mulligan Redfish emulator"',
    });
  }

  /** The methods each fixed path allows (405 with Allow for the others). */
  const allowed: Record<string, string[]> = {
    "/redfish": ["GET"],
    "/redfish/v1": ["GET"],
    "/redfish/v1/Systems": ["GET"],
    [sysPath]: ["GET", "PATCH"],
    [`${sysPath}/Actions/ComputerSystem.Reset`]: ["POST"],
    "/redfish/v1/Managers": ["GET"],
    [R.MANAGER]: ["GET"],
    [`${R.MANAGER}/VirtualMedia`]: ["GET"],
    [R.VIRTUAL_CD]: ["GET"],
    [`${R.VIRTUAL_CD}/Actions/VirtualMedia.InsertMedia`]: ["POST"],
    [`${R.VIRTUAL_CD}/Actions/VirtualMedia.EjectMedia`]: ["POST"],
    "/redfish/v1/SessionService": ["GET"],
    [R.SESSIONS]: ["GET", "POST"],
  };

  async function route(req: IncomingMessage, path: string, body: Json): Promise<Answer> {
    const method = req.method ?? "GET";
    const sessionId = path.startsWith(`${R.SESSIONS}/`) ? path.slice(R.SESSIONS.length + 1) : "";
    const session = [...sessions.entries()].find(([, s]) => s.id === sessionId);
    const methods = allowed[path] ?? (session ? ["GET", "DELETE"] : undefined);
    if (!methods) {
      authenticate(req); // an unknown URI is nobody's business before login
      throw new HttpError(404, "ResourceMissingAtURI", `The resource at ${path} was not found`);
    }
    if (!methods.includes(method)) {
      throw new HttpError(405, "OperationNotAllowed", `${method} is not allowed here`, {
        Allow: methods.join(", "),
      });
    }
    if (path === "/redfish") return ok({ v1: "/redfish/v1/" });
    if (path === "/redfish/v1") return ok(R.serviceRoot(opts.system));
    if (path === R.SESSIONS && method === "POST") {
      if (opts.sessions === false) {
        throw new HttpError(405, "OperationNotAllowed", "This BMC has no session service", {
          Allow: "GET",
        });
      }
      return login(body);
    }
    authenticate(req);
    switch (path) {
      case "/redfish/v1/Systems":
        return ok(R.systems(opts.system));
      case sysPath: {
        if (method === "PATCH") await patchBoot(body);
        const power = await opts.machine.powerState();
        return ok(R.computerSystem(opts.system, power, await opts.machine.bootOverride()));
      }
      case `${sysPath}/Actions/ComputerSystem.Reset`:
        return reset(body);
      case "/redfish/v1/Managers":
        return ok(R.managers());
      case R.MANAGER:
        return ok(R.manager(opts.system));
      case `${R.MANAGER}/VirtualMedia`:
        return ok(R.virtualMediaCollection());
      case R.VIRTUAL_CD:
        return ok(R.virtualCd(media));
      case `${R.VIRTUAL_CD}/Actions/VirtualMedia.InsertMedia`:
        return insertMedia(body);
      case `${R.VIRTUAL_CD}/Actions/VirtualMedia.EjectMedia`:
        await opts.machine.ejectMedia();
        media.image = null;
        return { status: 204 };
      case "/redfish/v1/SessionService":
        return ok(R.sessionService());
      case R.SESSIONS:
        return ok(R.sessions([...sessions.values()].map((s) => s.id)));
    }
    const [token, entry] = session as [string, { id: string }];
    if (method === "DELETE") {
      sessions.delete(token);
      return { status: 204 };
    }
    return ok(R.session(entry.id, opts.username));
  }

  function login(body: Record<string, unknown>) {
    const { UserName, Password } = body;
    if (typeof UserName !== "string" || typeof Password !== "string") {
      throw new HttpError(400, "PropertyMissing", "UserName and Password are required");
    }
    if (!same(UserName, opts.username) || !same(Password, opts.password)) {
      throw new HttpError(401, "NoValidSession", "Invalid username or password");
    }
    const token = randomBytes(24).toString("hex");
    const id = randomBytes(6).toString("hex");
    sessions.set(token, { id, lastUsed: Date.now() });
    return {
      status: 201,
      headers: { "X-Auth-Token": token, Location: `${R.SESSIONS}/${id}` },
      body: R.session(id, UserName),
    };
  }

  async function patchBoot(body: Record<string, unknown>) {
    for (const key of Object.keys(body)) {
      if (key !== "Boot") throw new HttpError(400, "PropertyNotWritable", `${key} is not writable`);
    }
    const boot = (body.Boot ?? {}) as Record<string, unknown>;
    const current = await opts.machine.bootOverride();
    let target = current.target;
    let mode = current.mode;
    for (const [key, value] of Object.entries(boot)) {
      if (key === "BootSourceOverrideTarget") {
        if (typeof value !== "string" || !(value in R.BOOT_TARGETS)) throw notInList(key, value);
        target = R.BOOT_TARGETS[value] ?? null;
      } else if (key === "BootSourceOverrideEnabled") {
        if (!R.OVERRIDE_MODES.includes(value as never)) throw notInList(key, value);
        mode = value as (typeof R.OVERRIDE_MODES)[number];
      } else if (key !== "BootSourceOverrideMode" || value !== "Legacy") {
        throw new HttpError(400, "PropertyNotWritable", `Boot/${key} is not writable here`);
      }
    }
    await opts.machine.setBootOverride({ target, mode: target ? mode : "Disabled" });
  }

  async function reset(body: Record<string, unknown>) {
    const type = body.ResetType;
    if (type === undefined)
      throw new HttpError(400, "ActionParameterMissing", "ResetType is required");
    if (!R.RESET_TYPES.includes(type as never)) {
      throw new HttpError(
        400,
        "ActionParameterValueNotInList",
        `ResetType ${String(type)} is not supported`,
      );
    }
    const on = (await opts.machine.powerState()) === "on";
    if (type === "On" && !on) await opts.machine.powerOn();
    if (type === "ForceOff" && on) await opts.machine.forceOff();
    if (type === "GracefulShutdown" && on) await opts.machine.gracefulShutdown();
    if (type === "ForceRestart") await opts.machine.powerOn();
    return { status: 204 };
  }

  async function insertMedia(body: Record<string, unknown>) {
    const image = body.Image;
    if (typeof image !== "string" || !/^https?:\/\//.test(image)) {
      throw new HttpError(
        400,
        "ActionParameterMissing",
        "Image (an http or https URL) is required",
      );
    }
    if (media.image) throw new HttpError(409, "ResourceInUse", "Eject the inserted media first");
    const response = await fetch(image, { signal: AbortSignal.timeout(120_000) }).catch(
      (e: Error) => {
        throw new HttpError(
          400,
          "ActionParameterValueFormatError",
          `cannot fetch Image: ${e.message}`,
        );
      },
    );
    if (!response.ok) {
      throw new HttpError(
        400,
        "ActionParameterValueFormatError",
        `Image answered HTTP ${response.status}`,
      );
    }
    if (!response.body)
      throw new HttpError(400, "ActionParameterValueFormatError", "Image is empty");
    await pipeline(
      Readable.fromWeb(response.body as WebReadableStream),
      createWriteStream(opts.mediaPath),
    );
    await opts.machine.insertMedia(opts.mediaPath);
    media.image = image;
    media.writeProtected = body.WriteProtected !== false;
    return { status: 204 };
  }

  return (req, res) => {
    readJson(req)
      .then((body) =>
        route(req, new URL(req.url ?? "/", "http://x").pathname.replace(/\/+$/, ""), body),
      )
      .then(
        (answer) => send(res, answer.status, answer.body, answer.headers),
        (error: unknown) => {
          const e =
            error instanceof HttpError
              ? error
              : new HttpError(500, "InternalError", `The BMC failed: ${(error as Error).message}`);
          send(res, e.status, R.redfishError(e.messageId, e.message), e.headers);
        },
      );
  };
}
