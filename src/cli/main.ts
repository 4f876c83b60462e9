/**
 * Entry point of the `mulligan` executable: runs the command tree and turns every failure into
 * one line on stderr and an exit code from exit-codes.ts.
 */
import { CommanderError } from "commander";
import { describeError } from "../client/errors.js";
import { currentTarget } from "./context.js";
import { EXIT, exitCodeFor, UsageError } from "./exit-codes.js";
import { createProgram } from "./program.js";

/** Prints `err` as one line on stderr and returns the exit code it stands for. */
export function reportError(err: unknown): number {
  if (err instanceof CommanderError) {
    // Commander has already printed its message (or the help); only the code is left.
    return err.exitCode === 0 ? EXIT.OK : EXIT.USAGE;
  }
  if (err instanceof UsageError) {
    process.stderr.write(`error: ${err.message}\n`);
    return EXIT.USAGE;
  }
  const d = describeError(err);
  const login = currentTarget()?.login;
  const unreachable =
    (d.code === "UNAVAILABLE" || d.code === "DEADLINE_EXCEEDED") && d.reason === d.code;
  if (unreachable) {
    const server = currentTarget()?.serverUrl ?? "the server";
    d.reason = "SERVER_UNREACHABLE";
    d.message =
      `cannot reach the Mulligan server at ${server} (${d.message}); start one with ` +
      "`mulligan serve` (or `npm start`), or point --server or MULLIGAN_SERVER at a running one";
  } else if (d.code === "UNAUTHENTICATED" && login) {
    d.message += `; the stored login of ${login.account} (expiry ${login.expiry}) was refused: run \`mulligan login\` again`;
  }
  const field = d.field ? ` (field ${d.field})` : "";
  process.stderr.write(`error: ${d.code} ${d.reason}${field}: ${d.message}\n`);
  return exitCodeFor(d.code);
}

// A reader that goes away (`mulligan region list | head`) ends the output, not the process
// with a stack trace.
process.stdout.on("error", (err: NodeJS.ErrnoException) => {
  if (err.code === "EPIPE") process.exit(EXIT.OK);
  throw err;
});

try {
  await createProgram().parseAsync(process.argv);
} catch (err) {
  process.exitCode = reportError(err);
}
