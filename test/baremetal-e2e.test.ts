/** Bare metal end to end behind a real IPMI BMC (ipmi_sim, ipmitool lanplus); see baremetal-suite.ts. */
import { bareMetalSuite } from "./baremetal-suite.js";

bareMetalSuite("ipmi");
