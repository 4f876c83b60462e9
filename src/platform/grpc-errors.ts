/**
 * The boundary between domain errors and the wire: every handler error leaves the server as a
 * ConnectError with google.rpc.ErrorInfo (domain "mulligan") and, for bad input,
 * google.rpc.BadRequest details.
 */
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";
import { type Code as CodeName, MulliganError } from "./errors.js";

/** The ErrorInfo domain of every Mulligan error. */
export const ERROR_DOMAIN = "mulligan";

const byName: Record<CodeName, Code> = {
  CANCELLED: Code.Canceled,
  UNKNOWN: Code.Unknown,
  INVALID_ARGUMENT: Code.InvalidArgument,
  DEADLINE_EXCEEDED: Code.DeadlineExceeded,
  NOT_FOUND: Code.NotFound,
  ALREADY_EXISTS: Code.AlreadyExists,
  PERMISSION_DENIED: Code.PermissionDenied,
  RESOURCE_EXHAUSTED: Code.ResourceExhausted,
  FAILED_PRECONDITION: Code.FailedPrecondition,
  ABORTED: Code.Aborted,
  OUT_OF_RANGE: Code.OutOfRange,
  UNIMPLEMENTED: Code.Unimplemented,
  INTERNAL: Code.Internal,
  UNAVAILABLE: Code.Unavailable,
  UNAUTHENTICATED: Code.Unauthenticated,
};

/** Converts anything a handler throws into a ConnectError with Mulligan's details. */
export function toConnectError(err: unknown): ConnectError {
  if (err instanceof ConnectError) return err;
  const e = MulliganError.from(err);
  const details = [
    {
      desc: ErrorInfoSchema,
      value: create(ErrorInfoSchema, {
        reason: e.reason,
        domain: ERROR_DOMAIN,
        metadata: { ...e.metadata },
      }),
    },
  ];
  if (e.violations.length > 0) {
    details.push({
      desc: BadRequestSchema,
      value: create(BadRequestSchema, {
        fieldViolations: e.violations.map((v) => ({
          field: v.field,
          description: v.description,
          reason: v.reason,
        })),
      }),
    } as never);
  }
  return new ConnectError(e.message, byName[e.code], undefined, details, e);
}

/** The code name of a wire code, for logs and metrics. */
export function codeName(code: Code | undefined): string {
  if (code === undefined) return "OK";
  for (const [name, value] of Object.entries(byName)) if (value === code) return name;
  return "UNKNOWN";
}

/**
 * The other way: a ConnectError from another Mulligan service back into a MulliganError with
 * its reason, violations and metadata, so a part calling another part over gRPC can pass the
 * other's error on (or decide on its reason) as if it had been thrown in-process.
 */
export function fromConnectError(err: unknown): MulliganError {
  if (err instanceof MulliganError) return err;
  const ce = ConnectError.from(err);
  if (ce.cause instanceof MulliganError) return ce.cause;
  const info = ce.findDetails(ErrorInfoSchema)[0];
  const bad = ce.findDetails(BadRequestSchema)[0];
  const name = (codeName(ce.code) === "OK" ? "UNKNOWN" : codeName(ce.code)) as CodeName;
  return new MulliganError(
    name,
    info?.reason ?? name,
    ce.rawMessage,
    (bad?.fieldViolations ?? []).map((v) => ({
      field: v.field,
      reason: v.reason,
      description: v.description,
    })),
    info?.metadata ?? {},
  );
}
