/**
 * Turns any error of a call into the few facts a program or a person acts on: the canonical
 * code name, Mulligan's stable reason (google.rpc.ErrorInfo), the field at fault
 * (google.rpc.BadRequest) and the server's message.
 */
import { Code, ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema } from "../gen/google/rpc/error_details_pb.js";

export interface ErrorDescription {
  /** Canonical code name, e.g. "INVALID_ARGUMENT". */
  code: string;
  /** Stable UPPER_SNAKE reason, e.g. "NAME_INVALID"; the code name when the server gave none. */
  reason: string;
  /** The first field at fault, as a proto path (`failure_domain.power`). */
  field?: string;
  message: string;
}

/** The code name of a wire code, as in google.rpc.Code ("NOT_FOUND"). */
export function codeName(code: Code): string {
  if (code === Code.Canceled) return "CANCELLED";
  return (Code[code] ?? "Unknown").replace(/([a-z])([A-Z])/g, "$1_$2").toUpperCase();
}

/** Describes an error thrown by a Mulligan client call (or anything else). */
export function describeError(err: unknown): ErrorDescription {
  const e = ConnectError.from(err);
  const code = codeName(e.code);
  const info = e.findDetails(ErrorInfoSchema)[0];
  const field = e.findDetails(BadRequestSchema)[0]?.fieldViolations[0]?.field;
  const description: ErrorDescription = {
    code,
    reason: info?.reason || code,
    message: e.rawMessage,
  };
  if (field) description.field = field;
  return description;
}
