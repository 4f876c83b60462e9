/**
 * Host registration against a fake ResourceService: the UUID kept in host.json, create-or-find
 * by UUID, writes only when something changed, a lost generation race re-read and retried,
 * and an operator's own capabilities kept.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import {
  CreateProviderResponseSchema,
  GetInventoriesResponseSchema,
  GetProviderResponseSchema,
  type Inventory,
  InventorySchema,
  type Provider,
  ProviderSchema,
  SetInventoriesResponseSchema,
  SetProviderCapabilitiesResponseSchema,
} from "../gen/mulligan/resource/v1/resource_pb.js";
import type { HostInventory } from "./host-inventory.js";
import {
  loadHostUuid,
  mergeCapabilities,
  type RegistrationCalls,
  registerHost,
} from "./host-registration.js";

const UUID = "01a201a2-8020-7b94-8ac1-27df49d2d2e7";
const HOST = { uuid: UUID, name: "hv-1", region: "lab" };
const INVENTORY: HostInventory = {
  inventories: [
    {
      resourceClass: "VCPU",
      total: 8n,
      reserved: 0n,
      minUnit: 1n,
      maxUnit: 8n,
      stepSize: 1n,
      allocationRatio: 4,
    },
  ],
  capabilities: ["COMPUTE_NODE", "HW_CPU_X86_AVX2"],
};

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), "mulligan-registration-"));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** An in-memory provider store with generations, recording every call by name. */
class FakeResource {
  provider: Provider | undefined;
  inventories: Inventory[] = [];
  calls: string[] = [];
  /** Generation bumps to apply behind the caller's back before the next write. */
  racesLeft = 0;

  readonly calls$: RegistrationCalls = {
    getProvider: async () => {
      this.calls.push("getProvider");
      if (!this.provider) throw new ConnectError("no such provider", Code.NotFound);
      return create(GetProviderResponseSchema, { provider: this.provider });
    },
    createProvider: async (req) => {
      this.calls.push("createProvider");
      assert.equal(req.requestId, `register-host:${UUID}`);
      if (this.provider) throw new ConnectError("exists", Code.AlreadyExists);
      this.provider = create(ProviderSchema, {
        uuid: req.uuid ?? "",
        name: req.name ?? "",
        regionName: req.region ?? "",
        generation: 1n,
      });
      return create(CreateProviderResponseSchema, { provider: this.provider });
    },
    getInventories: async () => {
      this.calls.push("getInventories");
      return create(GetInventoriesResponseSchema, {
        generation: this.provider?.generation ?? 0n,
        inventories: this.inventories,
      });
    },
    setInventories: async (req) => {
      this.calls.push("setInventories");
      this.checkGeneration(req.generation ?? 0n);
      this.inventories = (req.inventories ?? []).map((i) => create(InventorySchema, i));
      return create(SetInventoriesResponseSchema, { provider: this.provider });
    },
    setProviderCapabilities: async (req) => {
      this.calls.push("setProviderCapabilities");
      const provider = this.checkGeneration(req.generation ?? 0n);
      provider.capabilities = [...(req.capabilities ?? [])];
      return create(SetProviderCapabilitiesResponseSchema, { provider });
    },
  };

  private checkGeneration(generation: bigint): Provider {
    const p = this.provider;
    assert.ok(p);
    if (this.racesLeft > 0) {
      this.racesLeft -= 1;
      p.generation += 1n;
    }
    if (generation !== p.generation) throw new ConnectError("generation", Code.Aborted);
    p.generation += 1n;
    return p;
  }
}

test("host.json keeps one UUID; a damaged file is refused, not replaced", async () => {
  const stateDir = join(dir, "state-a");
  const first = await loadHostUuid(stateDir);
  assert.match(first, /^[0-9a-f-]{36}$/);
  assert.equal(await loadHostUuid(stateDir), first);
  assert.deepEqual(JSON.parse(await readFile(join(stateDir, "host.json"), "utf8")), {
    uuid: first,
  });
  await writeFile(join(stateDir, "host.json"), "{not json");
  await assert.rejects(loadHostUuid(stateDir), /HOST_FILE_INVALID/);
});

test("first registration creates the provider, its inventory and capabilities", async () => {
  const fake = new FakeResource();
  const provider = await registerHost(fake.calls$, HOST, INVENTORY);
  assert.equal(provider.uuid, UUID);
  assert.deepEqual(provider.capabilities, ["COMPUTE_NODE", "HW_CPU_X86_AVX2"]);
  assert.equal(fake.inventories[0]?.total, 8n);
  assert.deepEqual(fake.calls, [
    "getProvider",
    "createProvider",
    "getInventories",
    "setInventories",
    "getProvider",
    "setProviderCapabilities",
  ]);
});

test("an unchanged host registers again without a write", async () => {
  const fake = new FakeResource();
  await registerHost(fake.calls$, HOST, INVENTORY);
  const generation = fake.provider?.generation;
  fake.calls = [];
  await registerHost(fake.calls$, HOST, INVENTORY);
  assert.deepEqual(fake.calls, ["getProvider", "getInventories", "getProvider"]);
  assert.equal(fake.provider?.generation, generation);
});

test("a generation race (ABORTED) is re-read and retried", async () => {
  const fake = new FakeResource();
  await registerHost(fake.calls$, HOST, INVENTORY);
  fake.racesLeft = 2;
  const more = {
    ...INVENTORY,
    inventories: INVENTORY.inventories.map((i) => ({ ...i, total: 16n, maxUnit: 16n })),
  };
  await registerHost(fake.calls$, HOST, more);
  assert.equal(fake.inventories[0]?.total, 16n);
  assert.equal(fake.calls.filter((c) => c === "setInventories").length, 1 + 3);
});

test("a provider that keeps changing gives up with ABORTED", async () => {
  const fake = new FakeResource();
  await registerHost(fake.calls$, HOST, INVENTORY);
  fake.racesLeft = 100;
  const changed = { ...INVENTORY, capabilities: ["COMPUTE_NODE"] };
  await assert.rejects(
    registerHost(fake.calls$, HOST, changed),
    (err: unknown) => ConnectError.from(err).code === Code.Aborted,
  );
});

test("a name taken by another provider says so", async () => {
  const fake = new FakeResource();
  fake.calls$.createProvider = async () => {
    throw new ConnectError("name in use", Code.AlreadyExists);
  };
  await assert.rejects(registerHost(fake.calls$, HOST, INVENTORY), /HOST_NAME_TAKEN/);
});

test("mergeCapabilities keeps an operator's capabilities and replaces discovered ones", () => {
  assert.deepEqual(
    mergeCapabilities(
      ["CUSTOM_GPU_LAB", "HW_CPU_X86_AVX512F", "COMPUTE_NODE", "STORAGE_DISK_SSD"],
      ["COMPUTE_NODE", "HW_CPU_X86_AVX2"],
    ),
    ["COMPUTE_NODE", "CUSTOM_GPU_LAB", "HW_CPU_X86_AVX2", "STORAGE_DISK_SSD"],
  );
});
