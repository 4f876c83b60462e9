import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { MulliganError } from "../platform/errors.js";
import { BMC_KEY_ENV, BMC_KEY_FILE, CredentialBox } from "./node-credentials.js";

test("a sealed password opens with the same key and node, and reveals nothing of itself", () => {
  const box = CredentialBox.of(randomBytes(32));
  const sealed = box.seal("hunter2-bmc", "node-a");
  assert.ok(!sealed.includes("hunter2"));
  assert.notEqual(box.seal("hunter2-bmc", "node-a"), sealed, "a fresh IV per seal");
  assert.equal(box.open(sealed, "node-a"), "hunter2-bmc");
});

test("another node, another key or a changed byte refuses with BMC_KEY_MISMATCH", () => {
  const box = CredentialBox.of(randomBytes(32));
  const sealed = box.seal("pw", "node-a");
  const refused = (f: () => unknown) =>
    assert.throws(f, (e) => e instanceof MulliganError && e.reason === "BMC_KEY_MISMATCH");
  refused(() => box.open(sealed, "node-b"));
  refused(() => CredentialBox.of(randomBytes(32)).open(sealed, "node-a"));
  const parts = sealed.split(":");
  parts[3] = Buffer.from("xx").toString("base64");
  refused(() => box.open(parts.join(":"), "node-a"));
  refused(() => box.open("garbage", "node-a"));
});

test("the key comes from the environment, else a 0600 file created once in the data dir", () => {
  const dir = mkdtempSync(join(tmpdir(), "mulligan-key-"));
  try {
    const first = CredentialBox.load(dir, {});
    const path = join(dir, BMC_KEY_FILE);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const sealed = first.seal("pw", "n");
    assert.equal(CredentialBox.load(dir, {}).open(sealed, "n"), "pw", "the same key next start");
    const key = readFileSync(path, "utf8").trim();
    assert.equal(
      CredentialBox.load("/nonexistent", { [BMC_KEY_ENV]: key }).open(sealed, "n"),
      "pw",
    );
    assert.throws(() => CredentialBox.load(dir, { [BMC_KEY_ENV]: "c2hvcnQ=" }), /32 bytes/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
