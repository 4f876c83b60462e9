/**
 * The one error type of Mulligan's domain code. It carries a canonical gRPC code name (as a
 * string, so the domain never imports gRPC), a stable UPPER_SNAKE reason and, for bad input,
 * the fields at fault. `toConnectError` (grpc-errors.ts) turns it into a wire error.
 */

/** Canonical status codes the domain may raise (names as in google.rpc.Code). */
export type Code =
  | "CANCELLED"
  | "UNKNOWN"
  | "INVALID_ARGUMENT"
  | "DEADLINE_EXCEEDED"
  | "NOT_FOUND"
  | "ALREADY_EXISTS"
  | "PERMISSION_DENIED"
  | "RESOURCE_EXHAUSTED"
  | "FAILED_PRECONDITION"
  | "ABORTED"
  | "OUT_OF_RANGE"
  | "UNIMPLEMENTED"
  | "INTERNAL"
  | "UNAVAILABLE"
  | "UNAUTHENTICATED";

/** One bad field of a request: the path as in the proto (`failure_domain.power`). */
export interface FieldViolation {
  field: string;
  reason: string;
  description: string;
}

export class MulliganError extends Error {
  override readonly name = "MulliganError";

  constructor(
    readonly code: Code,
    readonly reason: string,
    message: string,
    readonly violations: readonly FieldViolation[] = [],
    readonly metadata: Readonly<Record<string, string>> = {},
  ) {
    super(message);
  }

  /** Normalises anything thrown into a MulliganError; unknown errors become INTERNAL. */
  static from(err: unknown): MulliganError {
    if (err instanceof MulliganError) return err;
    if (err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError")) {
      return new MulliganError("DEADLINE_EXCEEDED", "DEADLINE_EXCEEDED", err.message);
    }
    const message = err instanceof Error ? err.message : String(err);
    return new MulliganError("INTERNAL", "INTERNAL", message);
  }

  /** Bad input in one field. */
  static invalid(field: string, reason: string, description: string): MulliganError {
    return new MulliganError("INVALID_ARGUMENT", reason, `${field}: ${description}`, [
      { field, reason, description },
    ]);
  }

  /** An object that does not exist or that the caller may not see (never reveal which). */
  static notFound(kind: string, ref: string, field?: string): MulliganError {
    const reason = `${kind.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_NOT_FOUND`;
    const message = `${kind} "${ref}" not found`;
    return new MulliganError(
      "NOT_FOUND",
      reason,
      message,
      field ? [{ field, reason, description: message }] : [],
      { kind, ref },
    );
  }

  static alreadyExists(kind: string, name: string, field = "name"): MulliganError {
    const reason = `${kind.toUpperCase().replace(/[^A-Z0-9]+/g, "_")}_ALREADY_EXISTS`;
    const message = `${kind} "${name}" already exists`;
    return new MulliganError("ALREADY_EXISTS", reason, message, [
      { field, reason, description: message },
    ]);
  }

  static failedPrecondition(reason: string, message: string): MulliganError {
    return new MulliganError("FAILED_PRECONDITION", reason, message);
  }

  static permissionDenied(reason: string, message: string): MulliganError {
    return new MulliganError("PERMISSION_DENIED", reason, message);
  }

  static unauthenticated(reason: string, message: string): MulliganError {
    return new MulliganError("UNAUTHENTICATED", reason, message);
  }
}
