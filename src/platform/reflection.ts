/**
 * `grpc.reflection.v1.ServerReflection`, so that generic clients (buf curl, grpcurl, Postman)
 * can discover and call every service without the .proto files. Answers are built from the
 * protobuf-es descriptors the services are generated from; a file always comes with all its
 * transitive dependencies (well-known types included) so a client can resolve every type.
 */
import { create, type DescFile, type DescMessage, toBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Code, type ConnectRouter } from "@connectrpc/connect";
import {
  ServerReflection,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
  ServerReflectionResponseSchema,
} from "../gen/grpc/reflection/v1/reflection_pb.js";
import type { BuiltinService } from "./builtin-service.js";
import type { HostedService } from "./service-module.js";

/** Files and symbols of the served services, indexed for reflection lookups. */
export class DescriptorIndex {
  private readonly files = new Map<string, DescFile>();
  private readonly symbols = new Map<string, DescFile>();
  readonly serviceNames: string[];

  constructor(services: readonly HostedService[]) {
    this.serviceNames = services.map((s) => s.desc.typeName);
    for (const s of services) this.addFile(s.desc.file);
  }

  /** The file declaring a fully qualified symbol (service, method, message, enum). */
  fileOfSymbol(symbol: string): DescFile | undefined {
    return this.symbols.get(symbol.replace(/^\./, ""));
  }

  fileByName(name: string): DescFile | undefined {
    return this.files.get(name);
  }

  /** The message type with this name, if any served file declares it. */
  message(typeName: string): DescMessage | undefined {
    const file = this.fileOfSymbol(typeName);
    const all = (msgs: readonly DescMessage[]): DescMessage[] =>
      msgs.flatMap((m) => [m, ...all(m.nestedMessages)]);
    return file && all(file.messages).find((m) => m.typeName === typeName);
  }

  /** The serialized file first, then each transitive dependency once. */
  withDependencies(file: DescFile): Uint8Array[] {
    const seen = new Set<string>();
    const out: Uint8Array[] = [];
    const visit = (f: DescFile) => {
      if (seen.has(f.name)) return;
      seen.add(f.name);
      out.push(toBinary(FileDescriptorProtoSchema, f.proto));
      for (const d of f.dependencies) visit(d);
    };
    visit(file);
    return out;
  }

  private addFile(file: DescFile): void {
    if (this.files.has(file.proto.name)) return;
    this.files.set(file.proto.name, file);
    const addMessages = (msgs: readonly DescMessage[]) => {
      for (const m of msgs) {
        this.symbols.set(m.typeName, file);
        for (const e of m.nestedEnums) this.symbols.set(e.typeName, file);
        addMessages(m.nestedMessages);
      }
    };
    addMessages(file.messages);
    for (const e of file.enums) this.symbols.set(e.typeName, file);
    for (const s of file.services) {
      this.symbols.set(s.typeName, file);
      for (const m of s.methods) this.symbols.set(`${s.typeName}.${m.name}`, file);
    }
    for (const d of file.dependencies) this.addFile(d);
  }
}

function notFound(message: string): ServerReflectionResponse["messageResponse"] {
  return {
    case: "errorResponse",
    value: {
      $typeName: "grpc.reflection.v1.ErrorResponse",
      errorCode: Code.NotFound,
      errorMessage: message,
    },
  };
}

/** Answers one reflection request. */
export function reflect(
  index: DescriptorIndex,
  req: ServerReflectionRequest,
): ServerReflectionResponse {
  const r = req.messageRequest;
  let messageResponse: ServerReflectionResponse["messageResponse"];
  const files = (
    f: DescFile | undefined,
    what: string,
  ): ServerReflectionResponse["messageResponse"] =>
    f
      ? {
          case: "fileDescriptorResponse",
          value: {
            $typeName: "grpc.reflection.v1.FileDescriptorResponse",
            fileDescriptorProto: index.withDependencies(f),
          },
        }
      : notFound(`${what} not found`);
  switch (r.case) {
    case "listServices":
      messageResponse = {
        case: "listServicesResponse",
        value: {
          $typeName: "grpc.reflection.v1.ListServiceResponse",
          service: index.serviceNames.map((name) => ({
            $typeName: "grpc.reflection.v1.ServiceResponse",
            name,
          })),
        },
      };
      break;
    case "fileByFilename":
      messageResponse = files(index.fileByName(r.value), `file "${r.value}"`);
      break;
    case "fileContainingSymbol":
      messageResponse = files(index.fileOfSymbol(r.value), `symbol "${r.value}"`);
      break;
    case "fileContainingExtension":
      messageResponse = notFound(
        `no extension ${r.value.extensionNumber} of ${r.value.containingType}`,
      );
      break;
    case "allExtensionNumbersOfType":
      messageResponse = index.message(r.value)
        ? {
            case: "allExtensionNumbersResponse",
            value: {
              $typeName: "grpc.reflection.v1.ExtensionNumberResponse",
              baseTypeName: r.value,
              extensionNumber: [],
            },
          }
        : notFound(`type "${r.value}" not found`);
      break;
    default:
      messageResponse = {
        case: "errorResponse",
        value: {
          $typeName: "grpc.reflection.v1.ErrorResponse",
          errorCode: Code.InvalidArgument,
          errorMessage: "empty request",
        },
      };
  }
  return create(ServerReflectionResponseSchema, {
    validHost: req.host,
    originalRequest: req,
    messageResponse,
  });
}

/** The reflection service over every service this process serves (itself included). */
export function reflectionService(served: () => readonly HostedService[]): BuiltinService {
  let index: DescriptorIndex | undefined;
  return {
    desc: ServerReflection,
    policy: { ServerReflectionInfo: "public" },
    register(router: ConnectRouter) {
      router.service(ServerReflection, {
        async *serverReflectionInfo(requests) {
          index ??= new DescriptorIndex(served());
          for await (const req of requests) yield reflect(index, req);
        },
      });
    },
  };
}
