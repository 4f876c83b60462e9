/** Bare metal end to end behind the in-repo Redfish BMC emulator; see baremetal-suite.ts. */
import { bareMetalSuite } from "./baremetal-suite.js";

bareMetalSuite("redfish");
