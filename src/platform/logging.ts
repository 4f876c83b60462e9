/**
 * The process logger: one JSON object per line (pino), ISO timestamps, and redaction of any
 * field that could carry a credential, as a second line of defence behind the call log that
 * never records request bodies.
 */
import pino, { type DestinationStream, type Logger } from "pino";

/** Field paths censored wherever they appear in a log object. */
export const REDACTED_PATHS = [
  "secret",
  "token",
  "password",
  "authorization",
  "*.secret",
  "*.token",
  "*.password",
  "*.authorization",
];

/** A JSON logger at `level`, writing to stdout unless another destination is given. */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level,
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: REDACTED_PATHS, censor: "[redacted]" },
    formatters: { level: (label) => ({ level: label }) },
  };
  return destination ? pino(options, destination) : pino(options);
}
