/**
 * The `mulligan` command tree: global options, every subcommand, and the exit-code table in
 * the help. Commander's own exits are turned into exceptions so main.ts decides every exit code.
 */
import { Command, Option } from "commander";
import { DEFAULT_SERVER } from "../client/options.js";
import { accountCommand } from "./commands/account.js";
import { bootstrapCommand } from "./commands/bootstrap.js";
import { candidatesCommands } from "./commands/candidates.js";
import { capabilityCommand, resourceClassCommand } from "./commands/capability.js";
import { claimCommands } from "./commands/claim.js";
import { configureCommand } from "./commands/configure.js";
import { executorCommand } from "./commands/executor.js";
import { groupCommand } from "./commands/group.js";
import { imageCommand } from "./commands/image.js";
import { inventoryCommand } from "./commands/inventory.js";
import { machineCommand } from "./commands/machine.js";
import { nodeCommand } from "./commands/node.js";
import { objectCommand } from "./commands/object.js";
import { projectCommand } from "./commands/project.js";
import { propertyCommand } from "./commands/property.js";
import { providerCommand } from "./commands/provider.js";
import { regionCommand } from "./commands/region.js";
import { roleCommand } from "./commands/role.js";
import { serveCommand } from "./commands/serve.js";
import { loginCommand, logoutCommand, whoamiCommand } from "./commands/session.js";
import { tagCommand } from "./commands/tag.js";
import { usageCommands } from "./commands/usage.js";
import { EXIT_CODES_HELP } from "./exit-codes.js";
import { FORMATS } from "./output.js";

/** Builds a fresh command tree (tests build one per run). */
export function createProgram(): Command {
  const program = new Command("mulligan")
    .description("Mulligan: provision single bare-metal machines and virtual machines over gRPC")
    .option(
      "--server <address>",
      `server as HOST:PORT or an http(s):// URL (env MULLIGAN_SERVER, else the stored login, else ${DEFAULT_SERVER})`,
    )
    .option("--token <token>", "bearer token (env MULLIGAN_TOKEN, else the stored login)")
    .option("--ca <file>", "PEM CA certificate to trust for https:// servers (env MULLIGAN_CA)")
    .addOption(
      new Option("-o, --output <format>", "output format").choices(FORMATS).default("table"),
    )
    .addHelpText("after", EXIT_CODES_HELP);
  for (const cmd of [
    serveCommand(),
    executorCommand(),
    bootstrapCommand(),
    loginCommand(),
    logoutCommand(),
    whoamiCommand(),
    regionCommand(),
    projectCommand(),
    accountCommand(),
    roleCommand(),
    tagCommand(),
    propertyCommand(),
    objectCommand(),
    providerCommand(),
    inventoryCommand(),
    capabilityCommand(),
    resourceClassCommand(),
    groupCommand(),
    ...candidatesCommands(),
    ...claimCommands(),
    ...usageCommands(),
    machineCommand(),
    nodeCommand(),
    imageCommand(),
    configureCommand(),
  ])
    program.addCommand(cmd);
  throwInsteadOfExit(program);
  return program;
}

/** Commander exits by itself on usage errors; make every command throw instead. */
function throwInsteadOfExit(cmd: Command): void {
  cmd.exitOverride();
  cmd.showHelpAfterError("(run with --help for usage)");
  for (const sub of cmd.commands) throwInsteadOfExit(sub);
}
