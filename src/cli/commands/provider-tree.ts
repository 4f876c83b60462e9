/**
 * How `provider tree` prints a tree: one line per provider, indented under its parent, with
 * used/capacity per resource class; for scripts, nested `{provider, inventories, children}`.
 */

import type { MulliganClient } from "../../client/client.js";
import {
  type Inventory,
  InventorySchema,
  type Provider,
  ProviderSchema,
} from "../../gen/mulligan/resource/v1/resource_pb.js";
import { colors, type Format, messageJson, printDocument, write } from "../output.js";

/** Calls in flight at once while reading inventories (a tree may hold many providers). */
const PARALLEL = 16;

/** The inventories of each provider, in the same order, a few calls at a time. */
export async function inventoriesOf(
  client: MulliganClient,
  providers: readonly Provider[],
): Promise<Inventory[][]> {
  const out: Inventory[][] = [];
  for (let i = 0; i < providers.length; i += PARALLEL) {
    const batch = providers.slice(i, i + PARALLEL);
    const answers = await Promise.all(
      batch.map((p) => client.resource.getInventories({ provider: p.uuid })),
    );
    out.push(...answers.map((a) => a.inventories));
  }
  return out;
}

interface Node {
  provider: Provider;
  inventories: Inventory[];
  children: Node[];
}

/** Prints the providers of one or more trees (`inventories[i]` belongs to `providers[i]`). */
export function printTree(
  format: Format,
  providers: readonly Provider[],
  inventories: readonly Inventory[][],
): void {
  const roots = treeOf(providers, inventories);
  if (format !== "table") {
    printDocument(format, roots.map(nodeJson));
    return;
  }
  const lines: string[] = [];
  for (const root of roots) render(root, "", "", lines);
  write(lines.join("\n"));
}

/** Links providers to their parents; a provider whose parent is not listed is a root. */
function treeOf(providers: readonly Provider[], inventories: readonly Inventory[][]): Node[] {
  const nodes = new Map<string, Node>();
  providers.forEach((provider, i) => {
    nodes.set(provider.uuid, { provider, inventories: inventories[i] ?? [], children: [] });
  });
  const roots: Node[] = [];
  for (const node of nodes.values()) {
    const parent = nodes.get(node.provider.parentUuid);
    if (parent) parent.children.push(node);
    else roots.push(node);
  }
  const byName = (a: Node, b: Node) => a.provider.name.localeCompare(b.provider.name);
  for (const node of nodes.values()) node.children.sort(byName);
  return roots.sort(byName);
}

/** Appends `node` and its subtree; `lead` prefixes its own line, `indent` its children's. */
function render(node: Node, lead: string, indent: string, lines: string[]): void {
  const p = node.provider;
  const parts = [lead + colors.bold(p.name)];
  const inv = node.inventories.map((i) => `${i.resourceClass} ${i.used}/${i.capacity}`).join(", ");
  if (inv) parts.push(inv);
  if (p.capabilities.length > 0) parts.push(`[${p.capabilities.join(", ")}]`);
  lines.push(parts.join("  "));
  node.children.forEach((child, i) => {
    const last = i === node.children.length - 1;
    render(child, indent + (last ? "└─ " : "├─ "), indent + (last ? "   " : "│  "), lines);
  });
}

function nodeJson(node: Node): unknown {
  return {
    provider: messageJson(ProviderSchema, node.provider),
    inventories: node.inventories.map((i) => messageJson(InventorySchema, i)),
    children: node.children.map(nodeJson),
  };
}
