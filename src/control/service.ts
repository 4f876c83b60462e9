/**
 * MachineService, ImageService and ExecutorService handlers: decode (validate.ts), call the
 * domain with the caller, encode (wire.ts). Long calls (WatchMachine, LeaseTasks) follow the
 * call's abort signal.
 */
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ServiceImpl } from "@connectrpc/connect";
import type {
  ExecutorService,
  ImageService,
  MachineService,
} from "../gen/mulligan/control/v1/control_pb.js";
import { callerOf, principalOf } from "../platform/caller.js";
import { configureHandler } from "../platform/runtime-settings.js";
import type { ControlDeps } from "./deps.js";
import * as images from "./images.js";
import * as machines from "./machines.js";
import { reportPowerState } from "./power.js";
import { decodeReportPowerState } from "./power-wire.js";
import * as tasks from "./tasks.js";
import * as validate from "./validate.js";
import { eventMessage, imageMessage, machineMessage, taskMessage } from "./wire.js";

export function machineService(deps: ControlDeps): ServiceImpl<typeof MachineService> {
  return {
    async provision(req, ctx) {
      const m = await machines.provision(deps, callerOf(ctx), validate.decodeProvision(req));
      return { machine: machineMessage(m) };
    },
    async getMachine(req, ctx) {
      const m = await machines.getMachine(deps, principalOf(ctx), validate.decodeMachineRef(req));
      return { machine: machineMessage(m) };
    },
    async listMachines(req, ctx) {
      const page = await machines.listMachines(
        deps,
        principalOf(ctx),
        validate.decodeListMachines(req),
      );
      return { machines: page.items.map(machineMessage), nextPageToken: page.nextPageToken };
    },
    async *watchMachine(req, ctx) {
      const input = validate.decodeWatchMachine(req);
      for await (const { event, machine } of machines.watchMachine(
        deps,
        principalOf(ctx),
        input,
        ctx.signal,
      ))
        yield { event: eventMessage(event), machine: machineMessage(machine) };
    },
    async decommission(req, ctx) {
      const m = await machines.decommission(
        deps,
        principalOf(ctx),
        validate.decodeDecommission(req),
      );
      return { machine: machineMessage(m) };
    },
    async getConsoleLog(req, ctx) {
      const c = await machines.consoleLog(deps, principalOf(ctx), validate.decodeConsoleLog(req));
      return {
        text: c.text,
        ...(c.capturedAt ? { captureTime: timestampFromDate(new Date(c.capturedAt)) } : {}),
      };
    },
    configure: configureHandler(deps.logger),
  };
}

export function imageService(deps: ControlDeps): ServiceImpl<typeof ImageService> {
  return {
    async registerImage(req, ctx) {
      const i = await images.registerImage(deps, callerOf(ctx), validate.decodeRegisterImage(req));
      return { image: imageMessage(i) };
    },
    async getImage(req, ctx) {
      return {
        image: imageMessage(
          await images.getImage(deps, principalOf(ctx), validate.decodeImageRef(req)),
        ),
      };
    },
    async listImages(req, ctx) {
      const page = await images.listImages(deps, principalOf(ctx), validate.decodeListImages(req));
      return { images: page.items.map(imageMessage), nextPageToken: page.nextPageToken };
    },
    async deleteImage(req, ctx) {
      await images.deleteImage(deps, principalOf(ctx), validate.decodeDeleteImage(req));
      return {};
    },
  };
}

export function executorService(deps: ControlDeps): ServiceImpl<typeof ExecutorService> {
  return {
    async leaseTasks(req, ctx) {
      const leased = await tasks.leaseTasks(
        deps,
        principalOf(ctx),
        validate.decodeLeaseTasks(req),
        ctx.signal,
      );
      return { tasks: leased.map(taskMessage) };
    },
    async reportTask(req, ctx) {
      const r = await tasks.reportTask(deps, principalOf(ctx), validate.decodeReportTask(req));
      return {
        cancelled: r.cancelled,
        ...(r.leaseUntil ? { leaseExpireTime: timestampFromDate(new Date(r.leaseUntil)) } : {}),
      };
    },
    async reportPowerState(req, ctx) {
      return reportPowerState(deps, principalOf(ctx), decodeReportPowerState(req));
    },
  };
}
