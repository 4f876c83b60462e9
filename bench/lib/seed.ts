/**
 * Puts a bench fleet (bench/fleet.ts) into a fresh Mulligan store, fast: a first server run
 * creates the tables (migrations), the admin (Bootstrap), the region, the CUSTOM_* class and
 * capabilities and the rack groups over gRPC; it stops, and the providers, inventories,
 * capabilities, memberships, consumers and allocations are written by SQL in one transaction
 * (the measured path never sees this). Rows follow src/resource/tables.ts.
 *
 * API: seedFleet(kind, fleetOptions) → SeededStore; cloneStore(seeded) → an independent copy
 * (SQLite: file copy; PostgreSQL: CREATE DATABASE … TEMPLATE); startSeeded(seeded, opts) → a
 * running server on it (authenticated as the seeding admin). seeded.drop() removes the store.
 */
import { cpSync, existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { MetadataService } from "../../src/gen/mulligan/meta/v1/meta_pb.js";
import { GroupLevel, ResourceService } from "../../src/gen/mulligan/resource/v1/resource_pb.js";
import {
  CUSTOM_CAPABILITIES,
  DEVICE_CLASS,
  type FleetOptions,
  fleetTrees,
  rackName,
} from "../fleet.js";
import {
  type AdminCredentials,
  type MulliganServer,
  type StartOptions,
  startMulligan,
} from "./server.js";
import { openSql, type SqlHandle, type SqlValue } from "./sql.js";
import { clonePostgresDatabase, freshStore, type StoreKind, tempDir } from "./store.js";

/** The region every bench provider is in. */
export const BENCH_REGION = "bench";

export interface FleetCounts {
  trees: number;
  providers: number;
  inventories: number;
  capabilities: number;
  consumers: number;
  allocations: number;
}

export interface SeededStore {
  kind: StoreKind;
  databaseUrl: string;
  dataDir: string;
  admin: AdminCredentials;
  counts: FleetCounts;
  /** Seconds spent writing the rows. */
  seedSeconds: number;
  drop(): Promise<void>;
}

/** A fresh store of `kind` holding the fleet of `options`. */
export async function seedFleet(kind: StoreKind, options: FleetOptions): Promise<SeededStore> {
  const store = await freshStore(kind);
  try {
    const first = await startMulligan({
      database: kind,
      databaseUrl: store.url,
      dataDir: store.dataDir,
    });
    let vocabulary: Vocabulary;
    try {
      vocabulary = await createVocabulary(first, options.racks ?? 50);
    } finally {
      await first.stop();
    }
    const sql = await openSql(store.url);
    const t0 = performance.now();
    let counts: FleetCounts;
    try {
      counts = await sql.transaction(() => writeFleet(sql, options, vocabulary, first.admin));
    } finally {
      await sql.close();
    }
    return {
      kind,
      databaseUrl: store.url,
      dataDir: store.dataDir,
      admin: first.admin,
      counts,
      seedSeconds: (performance.now() - t0) / 1000,
      drop: store.drop,
    };
  } catch (err) {
    await store.drop();
    throw err;
  }
}

/** An independent copy of a seeded store (the original must not be in use). */
export async function cloneStore(seeded: SeededStore): Promise<SeededStore> {
  const dataDir = tempDir();
  cpSync(seeded.dataDir, dataDir, { recursive: true });
  if (seeded.kind === "sqlite") {
    const file = seeded.databaseUrl.slice("sqlite:".length);
    const copy = join(dataDir, "mulligan.db");
    if (!file.startsWith(seeded.dataDir)) {
      cpSync(file, copy);
      for (const ext of ["-wal", "-shm"])
        if (existsSync(file + ext)) cpSync(file + ext, copy + ext);
    }
    return {
      ...seeded,
      databaseUrl: `sqlite:${copy}`,
      dataDir,
      drop: async () => rmSync(dataDir, { recursive: true, force: true }),
    };
  }
  const db = await clonePostgresDatabase(seeded.databaseUrl);
  return {
    ...seeded,
    databaseUrl: db.url,
    dataDir,
    drop: async () => {
      await db.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Starts a server on a seeded store (stop() leaves the store; drop it with seeded.drop()). */
export function startSeeded(
  seeded: SeededStore,
  options: Omit<StartOptions, "database" | "databaseUrl" | "dataDir" | "admin"> = {},
): Promise<MulliganServer> {
  return startMulligan({
    ...options,
    database: seeded.kind,
    databaseUrl: seeded.databaseUrl,
    dataDir: seeded.dataDir,
    admin: seeded.admin,
  });
}

interface Vocabulary {
  regionUuid: string;
  /** Rack index → group UUID. */
  racks: string[];
}

/** Region, custom class and capabilities, and rack groups, created over gRPC. */
async function createVocabulary(server: MulliganServer, racks: number): Promise<Vocabulary> {
  const meta = server.client(MetadataService);
  const resource = server.client(ResourceService);
  const region = await meta.createRegion({ name: BENCH_REGION });
  await resource.createResourceClass({ name: DEVICE_CLASS });
  for (const name of CUSTOM_CAPABILITIES) await resource.createCapability({ name });
  const groups: string[] = [];
  for (let i = 0; i < racks; i++) {
    const res = await resource.createProviderGroup({ name: rackName(i), level: GroupLevel.RACK });
    groups.push(res.group?.uuid ?? "");
  }
  if (!region.region?.uuid || groups.some((g) => !g))
    throw new Error("seeding: region or group created without a UUID");
  return { regionUuid: region.region.uuid, racks: groups };
}

const BATCH_TREES = 1000;

/** Writes every tree's rows, BATCH_TREES trees per insert round. */
async function writeFleet(
  sql: SqlHandle,
  options: FleetOptions,
  vocabulary: Vocabulary,
  admin: AdminCredentials,
): Promise<FleetCounts> {
  const now = new Date().toISOString();
  const counts: FleetCounts = {
    trees: 0,
    providers: 0,
    inventories: 0,
    capabilities: 0,
    consumers: 0,
    allocations: 0,
  };
  let rows = emptyBatch();
  const flush = async () => {
    await sql.insert(
      "resource_providers",
      [
        "uuid",
        "name",
        "region_uuid",
        "parent_uuid",
        "root_uuid",
        "generation",
        "created_at",
        "updated_at",
      ],
      rows.providers,
    );
    await sql.insert(
      "resource_inventories",
      [
        "provider_uuid",
        "resource_class",
        "total",
        "reserved",
        "min_unit",
        "max_unit",
        "step_size",
        "allocation_ratio",
      ],
      rows.inventories,
    );
    await sql.insert(
      "resource_provider_capabilities",
      ["provider_uuid", "capability"],
      rows.capabilities,
    );
    await sql.insert("resource_provider_groups", ["provider_uuid", "group_uuid"], rows.memberships);
    await sql.insert(
      "resource_consumers",
      [
        "uuid",
        "project_uuid",
        "user_uuid",
        "consumer_type",
        "generation",
        "window_start",
        "window_end",
        "created_at",
        "updated_at",
      ],
      rows.consumers,
    );
    await sql.insert(
      "resource_allocations",
      ["consumer_uuid", "provider_uuid", "resource_class", "amount", "window_start", "window_end"],
      rows.allocations,
    );
    counts.providers += rows.providers.length;
    counts.inventories += rows.inventories.length;
    counts.capabilities += rows.capabilities.length;
    counts.consumers += rows.consumers.length;
    counts.allocations += rows.allocations.length;
    rows = emptyBatch();
  };
  for (const tree of fleetTrees(options)) {
    const uuids = tree.providers.map(() => crypto.randomUUID());
    const root = uuids[0] ?? "";
    tree.providers.forEach((p, i) => {
      const uuid = uuids[i] ?? "";
      const parent = p.parent < 0 ? "" : (uuids[p.parent] ?? "");
      rows.providers.push([uuid, p.name, vocabulary.regionUuid, parent, root, 1, now, now]);
      for (const v of p.inventories)
        rows.inventories.push([
          uuid,
          v.resourceClass,
          v.total,
          v.reserved,
          1,
          v.total,
          1,
          v.allocationRatio,
        ]);
      for (const c of p.capabilities) rows.capabilities.push([uuid, c]);
    });
    rows.memberships.push([root, vocabulary.racks[tree.rack] ?? ""]);
    for (const c of tree.consumers) {
      const consumer = crypto.randomUUID();
      rows.consumers.push([
        consumer,
        admin.projectUuid,
        admin.accountUuid,
        "INSTANCE",
        1,
        now,
        "",
        now,
        now,
      ]);
      for (const a of c.allocations)
        rows.allocations.push([
          consumer,
          uuids[a.provider] ?? "",
          a.resourceClass,
          a.amount,
          now,
          "",
        ]);
    }
    counts.trees++;
    if (counts.trees % BATCH_TREES === 0) await flush();
  }
  await flush();
  return counts;
}

function emptyBatch() {
  return {
    providers: [] as SqlValue[][],
    inventories: [] as SqlValue[][],
    capabilities: [] as SqlValue[][],
    memberships: [] as SqlValue[][],
    consumers: [] as SqlValue[][],
    allocations: [] as SqlValue[][],
  };
}
