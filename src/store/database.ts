/**
 * The one schema, as Kysely sees it. Each service declares its own tables in its tables.ts and
 * only its repo.ts touches them; this file only joins the declarations into one type.
 */
import type { ControlTables } from "../control/tables.js";
import type { IamTables } from "../iam/tables.js";
import type { MetaTables } from "../meta/tables.js";
import type { ResourceTables } from "../resource/tables.js";

/** Platform tables: the service catalog. */
export interface PlatformTables {
  platform_endpoints: {
    service: string;
    url: string;
    instance_id: string;
    heartbeat_at: string;
  };
}

export type Database = PlatformTables & IamTables & MetaTables & ResourceTables & ControlTables;
