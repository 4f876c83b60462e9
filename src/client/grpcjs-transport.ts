/**
 * A connect-es `Transport` over `@grpc/grpc-js` (decision 0011): the typed clients of
 * `createClient`, their interceptors and their errors (ConnectError with Mulligan's details) are
 * the usual ones; the HTTP/2 and gRPC framing is grpc-js's, which costs the caller about half the
 * CPU of connect-node's per small call. Unary and server-streaming methods (all Mulligan's
 * clients call); client and bidi streams stay on connect-node's transport.
 */
import { readFileSync } from "node:fs";
import {
  create,
  type DescMessage,
  type DescMethodStreaming,
  type DescMethodUnary,
  fromBinary,
  isMessage,
  type MessageInitShape,
  type MessageShape,
  toBinary,
} from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  createContextValues,
  type Interceptor,
  type StreamRequest,
  type StreamResponse,
  type Transport,
  type UnaryRequest,
  type UnaryResponse,
} from "@connectrpc/connect";
import { findTrailerError } from "@connectrpc/connect/protocol-grpc";
import * as grpc from "@grpc/grpc-js";
import { FindCandidatesResponseSchema } from "../gen/mulligan/resource/v1/resource_pb.js";
import { decodeFindCandidatesResponse } from "./decode-candidates.js";
import { asBuffer, headersFromMetadata, metadataFromHeaders } from "./grpcjs-metadata.js";

export interface GrpcJsTransportOptions {
  /** http://host:port or https://host:port. */
  baseUrl: string;
  interceptors?: Interceptor[];
  /** PEM file of the CA that signed an https server's certificate (default: system roots). */
  caFile?: string;
  /** A connection of its own instead of grpc-js's shared one for the same address. */
  ownConnection?: boolean;
}

export interface GrpcJsTransport extends Transport {
  /** Closes the connection; calls in flight are cancelled. */
  close(): void;
}

type HeadersInit = ConstructorParameters<typeof Headers>[0];

/** Headers a caller may not set: grpc-js writes them itself. */
const CLIENT_WRITES = new Set([
  "content-type",
  "te",
  "grpc-timeout",
  "user-agent",
  "grpc-encoding",
]);
const metadataOf = (headers: Headers) => metadataFromHeaders(headers, CLIENT_WRITES);
const headersOf = (metadata: grpc.Metadata) => headersFromMetadata(metadata);

export function createGrpcJsTransport(options: GrpcJsTransportOptions): GrpcJsTransport {
  const url = new URL(options.baseUrl);
  const secure = url.protocol === "https:";
  const port = url.port || (secure ? "443" : "80");
  const credentials = secure
    ? grpc.credentials.createSsl(options.caFile ? readFileSync(options.caFile) : null)
    : grpc.credentials.createInsecure();
  const client = new grpc.Client(`${url.hostname}:${port}`, credentials, {
    "grpc.max_receive_message_length": -1,
    // Room for a whole large answer (FindCandidates at limit 1,000 is ~1.4 MB) without waiting
    // for window updates; HTTP/2's default is 64 KiB.
    "grpc-node.flow_control_window": 16 * 1024 * 1024,
    ...(options.ownConnection ? { "grpc.use_local_subchannel_pool": 1 } : {}),
  });
  const baseUrl = options.baseUrl.replace(/\/$/, "");
  const interceptors = options.interceptors ?? [];

  const common = (
    method: DescMethodUnary | DescMethodStreaming,
    signal: AbortSignal | undefined,
    header: HeadersInit | undefined,
    contextValues: ContextValues | undefined,
  ) => ({
    service: method.parent,
    requestMethod: "POST",
    url: `${baseUrl}/${method.parent.typeName}/${method.name}`,
    signal: signal ?? new AbortController().signal,
    header: new Headers(header),
    contextValues: contextValues ?? createContextValues(),
  });
  const callOptions = (timeoutMs: number | undefined): grpc.CallOptions =>
    timeoutMs === undefined ? {} : { deadline: new Date(Date.now() + timeoutMs) };

  return {
    async unary<I extends DescMessage, O extends DescMessage>(
      method: DescMethodUnary<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: MessageInitShape<I>,
      contextValues?: ContextValues,
    ): Promise<UnaryResponse<I, O>> {
      const send = (req: UnaryRequest<I, O>): Promise<UnaryResponse<I, O>> =>
        new Promise((resolve, reject) => {
          if (req.signal.aborted) return reject(ConnectError.from(req.signal.reason));
          const responseHeader = new Headers();
          let answer: MessageShape<O> | undefined;
          const call = client.makeUnaryRequest(
            ...wireOf(method),
            req.message,
            metadataOf(req.header),
            callOptions(timeoutMs),
            (err, value) => {
              if (!err) answer = value;
            },
          );
          const onAbort = () => call.cancel();
          req.signal.addEventListener("abort", onAbort, { once: true });
          call.on("metadata", (m: grpc.Metadata) => headersFromMetadata(m, responseHeader));
          // The status comes after the callback: it carries the trailers.
          call.on("status", (status: grpc.StatusObject) => {
            req.signal.removeEventListener("abort", onAbort);
            if (status.code === grpc.status.OK && answer !== undefined)
              resolve({
                stream: false,
                service: method.parent,
                method,
                header: responseHeader,
                trailer: headersOf(status.metadata),
                message: answer,
              });
            else reject(errorOf(status, req.signal));
          });
        });
      const next = applyInterceptors(send as never, interceptors) as typeof send;
      return next({
        stream: false,
        method,
        message: isMessage(input, method.input) ? input : create(method.input, input),
        ...common(method, signal, header, contextValues),
      });
    },

    async stream<I extends DescMessage, O extends DescMessage>(
      method: DescMethodStreaming<I, O>,
      signal: AbortSignal | undefined,
      timeoutMs: number | undefined,
      header: HeadersInit | undefined,
      input: AsyncIterable<MessageInitShape<I>>,
      contextValues?: ContextValues,
    ): Promise<StreamResponse<I, O>> {
      if (method.methodKind !== "server_streaming")
        throw new ConnectError(
          `${method.name}: ${method.methodKind} calls need connect-node's transport`,
          Code.Unimplemented,
        );
      const send = async (req: StreamRequest<I, O>): Promise<StreamResponse<I, O>> => {
        let request: MessageShape<I> | undefined;
        for await (const m of req.message) request = m;
        if (request === undefined)
          throw new ConnectError("a server stream needs its request", Code.InvalidArgument);
        if (req.signal.aborted) throw ConnectError.from(req.signal.reason);
        const call = client.makeServerStreamRequest(
          ...wireOf(method),
          request,
          metadataOf(req.header),
          callOptions(timeoutMs),
        );
        const onAbort = () => call.cancel();
        req.signal.addEventListener("abort", onAbort, { once: true });
        const trailer = new Headers();
        let status: grpc.StatusObject | undefined;
        call.on("status", (s: grpc.StatusObject) => {
          status = s;
          headersFromMetadata(s.metadata, trailer);
        });
        // Wait for the response headers, or the end of a call that failed at once.
        const responseHeader = await new Promise<Headers>((resolve, reject) => {
          call.once("metadata", (m: grpc.Metadata) => resolve(headersOf(m)));
          call.once("error", (err: grpc.ServiceError) => reject(errorOf(err, req.signal)));
        });
        async function* messages(): AsyncIterable<MessageShape<O>> {
          try {
            for await (const m of call as AsyncIterable<MessageShape<O>>) yield m;
          } catch (err) {
            throw errorOf(err as grpc.ServiceError, req.signal);
          } finally {
            req.signal.removeEventListener("abort", onAbort);
            if (!status) call.cancel();
          }
        }
        return {
          stream: true,
          service: method.parent,
          method,
          header: responseHeader,
          trailer,
          message: messages(),
        };
      };
      const next = applyInterceptors(send as never, interceptors) as typeof send;
      return next({
        stream: true,
        method,
        message: normalized(method.input, input),
        ...common(method, signal, header, contextValues),
      });
    },

    close: () => client.close(),
  };
}

/**
 * Hand-written parsers of the answers too large for protobuf-es's reflective fromBinary (the
 * same message, several times faster), by message type.
 */
const DECODERS = new Map<string, (bytes: Buffer) => unknown>([
  [FindCandidatesResponseSchema.typeName, decodeFindCandidatesResponse],
]);

/** A method's path, request serializer and answer parser, as grpc-js calls take them. */
function wireOf<I extends DescMessage, O extends DescMessage>(
  method: DescMethodUnary<I, O> | DescMethodStreaming<I, O>,
) {
  const decode = DECODERS.get(method.output.typeName) as
    | ((bytes: Buffer) => MessageShape<O>)
    | undefined;
  return [
    `/${method.parent.typeName}/${method.name}`,
    (m: MessageShape<I>) => asBuffer(toBinary(method.input, m)),
    decode ?? ((bytes: Buffer) => fromBinary(method.output, bytes)),
  ] as const;
}

async function* normalized<I extends DescMessage>(
  desc: I,
  input: AsyncIterable<MessageInitShape<I>>,
): AsyncIterable<MessageShape<I>> {
  for await (const m of input) yield isMessage(m, desc) ? m : create(desc, m);
}

function applyInterceptors(next: unknown, interceptors: Interceptor[]): unknown {
  let fn = next as Parameters<Interceptor>[0];
  for (const i of [...interceptors].reverse()) fn = i(fn);
  return fn;
}

/** A failed call as connect-es reports it: code, message and the status details. */
function errorOf(status: Partial<grpc.StatusObject>, signal: AbortSignal): ConnectError {
  if (signal.aborted) return ConnectError.from(signal.reason);
  const headers = headersOf(status.metadata ?? new grpc.Metadata());
  headers.set("grpc-status", String(status.code ?? grpc.status.UNKNOWN));
  headers.set("grpc-message", encodeURIComponent(status.details ?? ""));
  const error = findTrailerError(headers);
  return error ?? new ConnectError(status.details ?? "", (status.code ?? Code.Unknown) as Code);
}
