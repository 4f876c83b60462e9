/**
 * The over-commit audit: recomputes usage per (provider, class) from the allocation rows of a
 * store (SQL, after the server stopped, so only committed rows count) and compares it with
 * capacity, floor((total − reserved) × allocation_ratio). Every allocation row is counted as
 * overlapping every other (the benches claim open-ended windows), which can only over-report.
 */
import { openSql } from "./sql.js";

export interface AuditResult {
  /** (provider, class) pairs whose usage exceeds capacity or that have no inventory. */
  overcommit: number;
  consumers: number;
  allocations: number;
  /** Usage / capacity over the whole fleet, per class. */
  fill: Record<string, number>;
}

export async function auditStore(databaseUrl: string): Promise<AuditResult> {
  const sql = await openSql(databaseUrl);
  try {
    const usage = await sql.query(
      `SELECT a.provider_uuid, a.resource_class, SUM(a.amount) AS used,
              i.total, i.reserved, i.allocation_ratio
         FROM resource_allocations a
         LEFT JOIN resource_inventories i
           ON i.provider_uuid = a.provider_uuid AND i.resource_class = a.resource_class
        GROUP BY a.provider_uuid, a.resource_class, i.total, i.reserved, i.allocation_ratio`,
    );
    let overcommit = 0;
    for (const r of usage) {
      if (r.total === null) {
        overcommit++;
        continue;
      }
      const capacity = Math.floor(
        (Number(r.total) - Number(r.reserved)) * Number(r.allocation_ratio),
      );
      if (Number(r.used) > capacity) overcommit++;
    }
    const totals = await sql.query(
      `SELECT i.resource_class,
              SUM(FLOOR((i.total - i.reserved) * i.allocation_ratio)) AS capacity,
              COALESCE(SUM(u.used), 0) AS used
         FROM resource_inventories i
         LEFT JOIN (SELECT provider_uuid, resource_class, SUM(amount) AS used
                      FROM resource_allocations GROUP BY provider_uuid, resource_class) u
           ON u.provider_uuid = i.provider_uuid AND u.resource_class = i.resource_class
        GROUP BY i.resource_class`,
    );
    const fill: Record<string, number> = {};
    for (const t of totals)
      fill[String(t.resource_class)] =
        Math.round((Number(t.used) / Math.max(1, Number(t.capacity))) * 1000) / 1000;
    const [consumers] = await sql.query("SELECT COUNT(*) AS n FROM resource_consumers");
    const [allocations] = await sql.query("SELECT COUNT(*) AS n FROM resource_allocations");
    return {
      overcommit,
      consumers: Number(consumers?.n ?? 0),
      allocations: Number(allocations?.n ?? 0),
      fill,
    };
  } finally {
    await sql.close();
  }
}
