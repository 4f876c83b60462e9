/**
 * A release interrupted by a crash is done at the next start, on both stores. The crash window
 * is reproduced in the store: two machines hold claims on a host (PROVISIONING, no executor),
 * the server stops, and the rows are left as a crash would leave them — one DELETED with its
 * claim (a decommission whose release never ran), one ERROR on its host (a failed teardown: the
 * guest may still be there, so its claim must stay). A new server on the store releases the
 * first claim and keeps the second.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { MachineService, MachineState } from "../src/gen/mulligan/control/v1/control_pb.js";
import { ResourceService } from "../src/gen/mulligan/resource/v1/resource_pb.js";
import type { Host } from "../src/host/host.js";
import { openStore } from "../src/store/store.js";
import { type FreshStore, freshStore, STORE_KINDS, startHost, startTestServer } from "./harness.js";
import { addHost, eventually, registerKernelImage, untilState } from "./machine-helpers.js";

for (const kind of STORE_KINDS) {
  describe(`claims left by an interrupted release are released at start [${kind}]`, () => {
    let store: FreshStore | undefined;
    let restarted: Host | undefined;
    after(async () => {
      await restarted?.stop(1000);
      await store?.drop();
    });

    test("DELETED: released; ERROR on its host: kept", async () => {
      store = await freshStore(kind);
      const s = await startTestServer(store.url);
      await s.meta().createRegion({ name: "lab" });
      const r = s.client(ResourceService);
      await addHost(s, "sweep-host");
      await registerKernelImage(s, "img", { bootMarker: "READY" });
      const machines = s.client(MachineService);
      const held: string[] = [];
      for (const name of ["lost-release", "failed-teardown"]) {
        const m = (
          await machines.provision({
            spec: {
              name,
              image: "img",
              groups: [{ resources: { VCPU: 1n, MEMORY_MB: 128n, DISK_GB: 1n } }],
            },
          })
        ).machine;
        assert.ok(m);
        await untilState(machines, m.uuid, [MachineState.PROVISIONING], 10_000);
        held.push(m.uuid);
      }
      for (const uuid of held)
        assert.equal((await r.getAllocations({ consumer: uuid })).allocations.length, 1);
      const [lost = "", kept = ""] = held;
      await s.stop();

      const db = await openStore(store.url);
      try {
        await db.db
          .updateTable("control_machines")
          .set({ state: "DELETED", live_name: lost, host_uuid: "" })
          .where("uuid", "=", lost)
          .execute();
        await db.db
          .updateTable("control_machines")
          .set({ state: "ERROR", failed_step: "teardown", reason: "TEARDOWN_FAILED" })
          .where("uuid", "=", kept)
          .execute();
      } finally {
        await db.close();
      }

      restarted = await startHost(store.url);
      const resource = createClient(
        ResourceService,
        createGrpcTransport({
          baseUrl: restarted.url,
          interceptors: [
            (next) => (req) => {
              req.header.set("authorization", `Bearer ${s.admin.token}`);
              return next(req);
            },
          ],
        }),
      );
      const left = (uuid: string) =>
        resource.getAllocations({ consumer: uuid }).then(
          (a) => a.allocations.length,
          () => 0,
        );
      await eventually(
        () => "the DELETED machine's claim was not released",
        15_000,
        async () => ((await left(lost)) === 0 ? true : undefined),
      );
      assert.equal(await left(kept), 1, "a machine that failed its teardown keeps its claim");
    });
  });
}
