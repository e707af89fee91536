// Usages the compiler must refuse: each `@ts-expect-error` fails the compile if its line ever
// stops being an error. Compiled (never run) with the typed schema's client.
import { createClient, type Widget, type Page } from "./client/index.js";

const api = createClient();

export async function refused(): Promise<unknown[]> {
  return [
    // @ts-expect-error an unknown field
    await api.widgets.list({ filter: [["nope", "$eq", "x"]] }),
    // @ts-expect-error a text operator on a number
    await api.widgets.list({ filter: [["count", "$contL", "3"]] }),
    // @ts-expect-error a string where a number is expected
    await api.widgets.list({ filter: [["count", "$eq", "3"]] }),
    // @ts-expect-error a bigint that is not an integer
    await api.widgets.list({ filter: [["big", "$eq", "forty"]] }),
    // @ts-expect-error JSON is only tested for null
    await api.widgets.list({ filter: [["meta", "$eq", "x"]] }),
    // @ts-expect-error booleans have no order
    await api.widgets.list({ filter: [["active", "$gt", true]] }),
    // @ts-expect-error not a value of the enum
    await api.widgets.list({ filter: [["size", "$eq", "huge"]] }),
    // @ts-expect-error $between takes two values
    await api.widgets.list({ filter: [["count", "$between", 3]] }),
    // @ts-expect-error an unknown join
    await api.widgets.list({ join: ["nope"] }),
    // @ts-expect-error JSON cannot be sorted
    await api.widgets.list({ sort: ["meta"] }),
    // @ts-expect-error a relation with many rows per row cannot be sorted by
    await api.widgets.list({ sort: ["parts.label"] }),
    // @ts-expect-error an unknown column to return
    await api.widgets.list({ fields: ["nope"] }),
    // @ts-expect-error a string where a number is expected
    await api.widgets.list({ limit: "5" }),
    // @ts-expect-error widgets has a tenant column, organizations none
    await api.organizations.list("org-id"),
    // @ts-expect-error only soft-deleting entities recover
    await api.widgets.recover("id"),
    // @ts-expect-error `name` is required
    await api.widgets.create({ count: 1 }),
    // @ts-expect-error server-set fields are not written
    await api.widgets.create({ name: "x", created_at: "now" }),
    // @ts-expect-error immutable fields are not updated
    await api.widgets.update("id", { serial_no: "S-2" }),
    // @ts-expect-error a number column given a string
    await api.widgets.update("id", { count: "many" }),
  ];
}

export async function narrowed(): Promise<unknown[]> {
  const rows = await api.widgets.list({ fields: ["name"], join: ["parts"] });
  // @ts-expect-error `count` was not asked for
  rows[0].count;
  // @ts-expect-error `organization` was not joined
  rows[0].organization;
  // @ts-expect-error a list without page or offset is an array, not the envelope
  const page: Page<Widget> = await api.widgets.list();
  // @ts-expect-error with page it is the envelope
  const array: Widget[] = await api.widgets.list({ page: 1 });
  // @ts-expect-error events always paginate
  const events: unknown[] = await api.events.list();
  return [rows[0].parts[0].label, page, array, events];
}
