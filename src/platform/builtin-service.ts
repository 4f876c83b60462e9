/**
 * A service that every Mulligan process serves whatever parts it hosts (health, reflection,
 * catalog): its descriptor, its policy table, and its handlers.
 */
import type { ConnectRouter } from "@connectrpc/connect";
import type { HostedService } from "./service-module.js";

export interface BuiltinService extends HostedService {
  register(router: ConnectRouter): void;
}
