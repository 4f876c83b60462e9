/** `mulligan configure SERVICE`: reads or changes a service's runtime settings (admin only). */
import { Command } from "commander";
import { RuntimeSettingsSchema } from "../../gen/mulligan/common/v1/common_pb.js";
import { PARTS, type Part } from "../../platform/service-module.js";
import { withClient } from "../context.js";
import { UsageError } from "../exit-codes.js";
import { printOne } from "../output.js";

/** Every part has a Configure RPC with the same request and response shape. */
const SERVICES = PARTS;

/** The `configure` command. */
export function configureCommand(): Command {
  return new Command("configure")
    .description(`read or change a service's runtime settings (${SERVICES.join(", ")})`)
    .argument("<service>", `the service: ${SERVICES.join(", ")}`)
    .option("--log-level <level>", "trace, debug, info, warn, error, fatal or silent")
    .action(async (service: string, o: { logLevel?: string }, cmd: Command) => {
      if (!SERVICES.includes(service as Part))
        throw new UsageError(`service "${service}" is not one of ${SERVICES.join(", ")}`);
      const request = {
        settings: { logLevel: o.logLevel ?? "" },
        updateMask: { paths: o.logLevel !== undefined ? ["log_level"] : [] },
      };
      await withClient(cmd, async (client, g) => {
        const clients = {
          iam: client.iam,
          meta: client.meta,
          resource: client.resource,
          control: client.machines,
        };
        const res = await clients[service as Part].configure(request);
        if (res.settings)
          printOne(g.output, RuntimeSettingsSchema, res.settings, [
            { header: "service", value: () => service },
            { header: "log level", value: (s) => s.logLevel },
          ]);
      });
    });
}
