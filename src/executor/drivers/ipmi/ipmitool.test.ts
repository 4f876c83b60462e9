import assert from "node:assert/strict";
import { test } from "node:test";
import type { BmcEndpoint } from "../bmc-driver.js";
import { classifyFailure, ipmitoolArgs } from "./ipmitool.js";

const endpoint: BmcEndpoint = {
  driver: "ipmi",
  address: "10.0.0.9",
  port: 623,
  username: "admin",
  password: "Top-Secret-1",
};

test("argv: lanplus, cipher suite 3 unless the endpoint names one, password by file only", () => {
  const args = ipmitoolArgs(endpoint, "/tmp/x/password", ["chassis", "power", "status"]);
  assert.ok(!args.join(" ").includes("Top-Secret-1"));
  assert.deepEqual(args.slice(0, 4), ["-I", "lanplus", "-C", "3"]);
  assert.equal(args[args.indexOf("-f") + 1], "/tmp/x/password");
  assert.ok(!args.includes("-P") && !args.includes("-E"));
  assert.deepEqual(args.slice(-3), ["chassis", "power", "status"]);
  const custom = ipmitoolArgs({ ...endpoint, cipherSuite: 17 }, "/p", ["mc", "info"]);
  assert.equal(custom[custom.indexOf("-C") + 1], "17");
});

test("ipmitool's complaints map to stable reasons", () => {
  const cases: [string, string][] = [
    ["> RAKP 2 HMAC is invalid\nError: Unable to establish IPMI v2 / RMCP+ session", "AUTH_FAILED"],
    ["RAKP 2 message indicates an error : unauthorized name", "AUTH_FAILED"],
    ["Error: Unable to establish IPMI v2 / RMCP+ session", "BMC_UNREACHABLE"],
    ["No response from remote controller", "BMC_UNREACHABLE"],
    ["Set Chassis Power Control to Up/On failed: Invalid command", "BMC_PROTOCOL_ERROR"],
  ];
  for (const [output, reason] of cases) {
    const error = classifyFailure("chassis power on", output);
    assert.equal(error.reason, reason, output);
    assert.ok(error.message.length > 0);
  }
});
