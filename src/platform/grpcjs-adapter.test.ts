import assert from "node:assert/strict";
import { test } from "node:test";
import { isLoopbackPeer } from "../iam/bootstrap.js";
import { peerAddress } from "./grpcjs-adapter.js";

test("the peer's address comes out of grpc-js's peer string, and only loopback is loopback", () => {
  const cases: [string, string, boolean][] = [
    ["127.0.0.1:51234", "127.0.0.1", true],
    ["::1:51234", "::1", true],
    ["::ffff:127.0.0.1:443", "::ffff:127.0.0.1", true],
    ["10.1.2.3:51234", "10.1.2.3", false],
    ["fe80::1:7443", "fe80::1", false],
    // grpc-js says "unknown" when the socket has no address: never treated as loopback
    ["unknown", "unknown", false],
  ];
  for (const [peer, address, loopback] of cases) {
    assert.equal(peerAddress(peer), address, peer);
    assert.equal(isLoopbackPeer(peerAddress(peer)), loopback, `${peer} loopback`);
  }
});
