/** Reading Mulligan's gRPC errors in benches: code, ErrorInfo reason and metadata. */
import { Code, ConnectError } from "@connectrpc/connect";
import { ErrorInfoSchema } from "../../src/gen/google/rpc/error_details_pb.js";

export interface GrpcFailure {
  code: Code;
  reason: string;
  metadata: Record<string, string>;
  message: string;
}

export function grpcFailure(err: unknown): GrpcFailure {
  const e = ConnectError.from(err);
  const info = e.findDetails(ErrorInfoSchema)[0];
  return {
    code: e.code,
    reason: info?.reason ?? "",
    metadata: { ...(info?.metadata ?? {}) },
    message: e.rawMessage,
  };
}

/** RESOURCE_EXHAUSTED NO_CANDIDATES: nothing fits (or, with metadata.attempts, all were taken). */
export function isNoCandidates(f: GrpcFailure): boolean {
  return f.code === Code.ResourceExhausted && f.reason === "NO_CANDIDATES";
}
