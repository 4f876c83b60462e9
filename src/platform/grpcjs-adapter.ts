/**
 * Serves connect-es service implementations through `@grpc/grpc-js` (decision 0011): the
 * handlers, the interceptors and the HandlerContext they see are the connect-es ones, only the
 * HTTP/2 and gRPC framing underneath is grpc-js's, which answers about three times as many small
 * calls per second as connect-node here.
 *
 * `register` is a part's usual `(router: ConnectRouter) => void`; the router given to it only
 * records which implementation serves which method. Each call then runs connect-es's own
 * invocation code (`invokeUnaryImplementation`, `transformInvokeImplementation`), so messages are
 * normalised, interceptors applied and contexts merged exactly as under connect-node. Errors
 * leave as gRPC statuses with connect-es's `grpc-status-details-bin` trailer, which both
 * connect-es and grpc-js clients decode.
 */
import type { EventEmitter } from "node:events";
import type { Readable } from "node:stream";
import { type DescMethod, fromBinary, toBinary } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ConnectRouter,
  type ContextValues,
  createServiceImplSpec,
  type HandlerContext,
  type Interceptor,
  type MethodImplSpec,
} from "@connectrpc/connect";
import {
  createAsyncIterable,
  invokeUnaryImplementation,
  transformInvokeImplementation,
} from "@connectrpc/connect/protocol";
import { setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import type * as grpc from "@grpc/grpc-js";
import { asBuffer, headersFromMetadata, metadataFromHeaders } from "../client/grpcjs-metadata.js";

export interface AdapterOptions {
  interceptors: Interceptor[];
  /** Faster encoders of response messages, by message type name. */
  encoders?: ReadonlyMap<string, (message: unknown) => Uint8Array>;
  /** Values every call's context starts with (the peer's address, say). */
  contextValues: (peer: string) => ContextValues;
}

/** Registers on `server` every method that `register` implements. */
export function registerConnectRoutes(
  server: grpc.Server,
  register: (router: ConnectRouter) => void,
  options: AdapterOptions,
): void {
  for (const spec of recordRoutes(register)) {
    const path = `/${spec.method.parent.typeName}/${spec.method.name}`;
    const encode =
      options.encoders?.get(spec.method.output.typeName) ??
      ((value: unknown) => toBinary(spec.method.output, value as never));
    const serialize = (value: unknown) => asBuffer(encode(value));
    const deserialize = (bytes: Buffer) => fromBinary(spec.method.input, bytes);
    switch (spec.kind) {
      case "unary":
        server.register(path, unaryHandler(spec, options), serialize, deserialize, "unary");
        break;
      case "server_streaming":
        server.register(path, streamHandler(spec, options), serialize, deserialize, "serverStream");
        break;
      case "bidi_streaming":
        server.register(path, streamHandler(spec, options), serialize, deserialize, "bidi");
        break;
      case "client_streaming":
        // No Mulligan RPC streams from the client; refuse loudly should one be added untested.
        throw new Error(`${path}: client-streaming methods are not served by the grpc-js adapter`);
    }
  }
}

/** What `register` implements, one spec per method. */
function recordRoutes(register: (router: ConnectRouter) => void): MethodImplSpec[] {
  const specs: MethodImplSpec[] = [];
  const router = {
    handlers: [],
    service(desc, impl) {
      specs.push(...Object.values(createServiceImplSpec(desc, impl).methods));
      return router;
    },
    rpc() {
      throw new Error("single-method routes are not used by Mulligan");
    },
  } as ConnectRouter;
  register(router);
  return specs;
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | WritingCall;
type WritingCall =
  | grpc.ServerWritableStream<unknown, unknown>
  | grpc.ServerDuplexStream<unknown, unknown>;

/**
 * The connect-es context of one grpc-js call: its signal aborts when the client cancels or the
 * deadline passes. Built by hand rather than with connect-es's createHandlerContext, which
 * links three abort signals per call and aborts them when the call ends: creating those abort
 * reasons (errors with stacks) cost more than the rest of a small call.
 */
function contextOf(call: AnyCall, method: DescMethod, options: AdapterOptions) {
  const deadline = call.getDeadline();
  const deadlineMs = deadline instanceof Date ? deadline.getTime() : deadline;
  const bounded = Number.isFinite(deadlineMs);
  const controller = new AbortController();
  const expire = () =>
    controller.abort(new ConnectError("the operation timed out", Code.DeadlineExceeded));
  const timer = bounded ? setTimeout(expire, Math.max(0, deadlineMs - Date.now())) : undefined;
  // grpc-js enforces the deadline itself and reports it as a cancellation: tell them apart.
  const cancelled = () => {
    if (controller.signal.aborted) return;
    if (bounded && Date.now() >= deadlineMs) expire();
    else controller.abort(new ConnectError("the call was cancelled", Code.Canceled));
  };
  (call as EventEmitter).once("cancelled", cancelled);
  const context: HandlerContext = {
    service: method.parent,
    method,
    protocolName: "grpc",
    requestMethod: "POST",
    url: call.getPath(),
    signal: controller.signal,
    timeoutMs: () => (bounded ? deadlineMs - Date.now() : undefined),
    requestHeader: headersFromMetadata(call.metadata),
    responseHeader: new Headers(),
    responseTrailer: new Headers(),
    values: options.contextValues(peerAddress(call.getPeer())),
  };
  /**
   * The call ended: stop its deadline timer, and stop listening for a cancellation. grpc-js
   * reports one after every call, answered or not, once it sent the status; aborting then made
   * an error with a stack and ran the signal's listeners on every call, for no one.
   */
  const done = () => {
    clearTimeout(timer);
    (call as EventEmitter).removeListener("cancelled", cancelled);
  };
  return { context, done };
}

function unaryHandler(
  spec: MethodImplSpec,
  options: AdapterOptions,
): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const { context, done } = contextOf(call, spec.method, options);
    invokeUnaryImplementation(
      spec as never,
      context,
      call.request as never,
      options.interceptors,
    ).then(
      (message) => {
        done();
        sendHeader(call, context.responseHeader);
        callback(null, message, metadataOf(context.responseTrailer));
      },
      (err: unknown) => {
        done();
        callback(statusOf(err, context.responseTrailer));
      },
    );
  };
}

/**
 * The requests of a call: its one message, or what the client streams. A plain `for await`
 * over a grpc-js Duplex destroys it when the requests end, which would drop the answers and
 * the status still to be written: iterate without destroying.
 */
function requestsOf(call: WritingCall) {
  return "request" in call && call.request !== undefined
    ? createAsyncIterable([call.request as never])
    : ((call as unknown as Readable).iterator({ destroyOnReturn: false }) as AsyncIterable<never>);
}

/** Server streams and bidi streams: the implementation's messages, written with back-pressure. */
function streamHandler(spec: MethodImplSpec, options: AdapterOptions): (call: WritingCall) => void {
  return (call) => {
    const { context, done } = contextOf(call, spec.method, options);
    const output = transformInvokeImplementation(
      spec,
      context,
      options.interceptors,
    )(requestsOf(call));
    void (async () => {
      try {
        let first = true;
        for await (const message of output) {
          if (first) sendHeader(call, context.responseHeader);
          first = false;
          if (!call.write(message)) await drained(call, context.signal);
        }
        if (first) sendHeader(call, context.responseHeader);
        call.end(metadataOf(context.responseTrailer));
      } catch (err) {
        // A stream the client already left has no one to tell.
        if (!call.cancelled) call.emit("error", statusOf(err, context.responseTrailer));
      } finally {
        done();
      }
    })();
  };
}

/** Resolves once the stream may take more, or rejects when the call ends first. */
function drained(call: WritingCall, signal: AbortSignal) {
  return new Promise<void>((resolve, reject) => {
    const done = () => {
      call.off("drain", done);
      signal.removeEventListener("abort", aborted);
      resolve();
    };
    const aborted = () => {
      call.off("drain", done);
      reject(signal.reason);
    };
    call.once("drain", done);
    signal.addEventListener("abort", aborted, { once: true });
  });
}

function sendHeader(call: AnyCall, header: Headers): void {
  let any = false;
  header.forEach(() => {
    any = true;
  });
  if (any) call.sendMetadata(metadataOf(header));
}

/** A failed call as grpc-js sends it: code, message, and connect-es's status details. */
function statusOf(err: unknown, trailer: Headers): Partial<grpc.StatusObject> {
  const error = ConnectError.from(err);
  const headers = new Headers(trailer);
  error.metadata.forEach((value, key) => {
    headers.set(key, value);
  });
  setTrailerStatus(headers, error);
  return { code: error.code as number, details: error.rawMessage, metadata: metadataOf(headers) };
}

/** Headers grpc-js writes itself on a server's answers. */
const SERVER_WRITES = new Set(["grpc-status", "grpc-message", "content-type", "te"]);
const metadataOf = (headers: Headers) => metadataFromHeaders(headers, SERVER_WRITES);

/** The address part of grpc-js's peer string (`127.0.0.1:5000`, `::1:5000`). */
export function peerAddress(peer: string): string {
  if (peer === "unknown") return peer;
  return peer.replace(/:\d+$/, "");
}
