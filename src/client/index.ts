/** The Mulligan TypeScript SDK: the smart client, its options and error description. */
export { MulliganClient } from "./client.js";
export { codeName, describeError, type ErrorDescription } from "./errors.js";
export {
  type ConnectOptions,
  DEFAULT_DEADLINE_MS,
  DEFAULT_MAX_ATTEMPTS,
  DEFAULT_SERVER,
  serverUrl,
} from "./options.js";
