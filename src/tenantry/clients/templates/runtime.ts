// ---------------------------------------------------------------------------------------------
// The client runtime: the same for every schema. It needs nothing but `fetch` (browsers, Node 18+,
// edge runtimes) and names no DOM or Node type, so it compiles under any `lib` setting.
// ---------------------------------------------------------------------------------------------

/** Any JSON value (a `json` field's content). */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** A column filtered as text: every operator, the LIKE-style and case-insensitive ones included. */
export interface TextColumn<V extends string = string> {
  kind: "text";
  value: V;
}
/** A number, date or timestamp column: comparisons, ranges and lists, no LIKE. */
export interface OrderedColumn<V> {
  kind: "ordered";
  value: V;
}
/** A boolean column: equality and lists. */
export interface BoolColumn {
  kind: "bool";
  value: boolean;
}
/** An array column: `$cont` asks for one element, `$in` for any of several. */
export interface ArrayColumn<V> {
  kind: "array";
  value: V;
}
/** A JSON column: only tested for null. */
export interface JsonColumn {
  kind: "json";
  value: never;
}

export type NullOperator = "$isnull" | "$notnull";
export type EqualityOperator = "$eq" | "$ne";
export type OrderOperator = "$gt" | "$lt" | "$gte" | "$lte";
export type ListOperator = "$in" | "$notin";
export type TextOperator =
  | "$starts"
  | "$ends"
  | "$cont"
  | "$excl"
  | "$eqL"
  | "$neL"
  | "$startsL"
  | "$endsL"
  | "$contL"
  | "$exclL";
export type TextListOperator = "$inL" | "$notinL";

type ConditionOn<K extends string, C> =
  | readonly [K, NullOperator]
  | (C extends ArrayColumn<infer V>
      ? readonly [K, "$cont", V] | readonly [K, "$in", readonly V[]]
      : C extends JsonColumn
      ? never
      : C extends BoolColumn
        ? readonly [K, EqualityOperator, boolean] | readonly [K, ListOperator, readonly boolean[]]
        : C extends OrderedColumn<infer V>
          ? readonly [K, EqualityOperator | OrderOperator, V] | readonly [K, ListOperator, readonly V[]] | readonly [K, "$between", readonly [V, V]]
          : C extends TextColumn<infer V>
            ?
                | readonly [K, EqualityOperator | OrderOperator, V]
                | readonly [K, ListOperator, readonly V[]]
                | readonly [K, "$between", readonly [V, V]]
                | readonly [K, TextOperator, string]
                | readonly [K, TextListOperator, readonly string[]]
            : never);

/** `[field, operator, value]`: the field, the operators its type allows and the value's type are checked. */
export type Condition<Columns> = { [K in keyof Columns & string]: ConditionOn<K, Columns[K]> }[keyof Columns & string];

/** What the generated types tell the runtime about one entity. */
export interface EntityTypes {
  row: object;
  create: object;
  update: object;
  filter: object;
  equality: object;
  sort: string;
  field: string;
  relations: object;
  joins: object;
  id: string | number;
  paged: boolean;
  tenant: boolean;
  softDelete: boolean;
}

/** The JSON search of `?s=`, passed through as written (`{"name": {"$contL": "acme"}}`). */
export type Search = { [key: string]: JsonValue };

export type SortOrder = "ASC" | "DESC";

/** The query of a list: `filter` conditions are AND-ed, `or` combined with them as nestjsx/crud does. */
export interface ListQuery<T extends EntityTypes, F extends string, J extends string> {
  /** Columns to return (`id` always comes back); narrows the result type. */
  fields?: readonly F[];
  filter?: readonly Condition<T["filter"]>[];
  or?: readonly Condition<T["filter"]>[];
  /** Plain `?field=value` equality, as the seed's client sends `?org_id=…`. */
  where?: { [K in keyof T["equality"]]?: T["equality"][K] };
  /** JSON search (`?s=`); when present the server ignores `filter` and `or`. */
  search?: Search;
  sort?: readonly (T["sort"] | readonly [T["sort"], SortOrder])[];
  /** Relations to include; each adds its key to the result type. */
  join?: readonly J[];
  limit?: number;
  /** Include soft-deleted rows (entities with `soft_delete`). */
  includeDeleted?: boolean;
}

/** `page` or `offset` switch a list to the paginated envelope. */
export type Paged = { page: number; offset?: undefined } | { offset: number; page?: undefined };
export type Unpaged = { page?: undefined; offset?: undefined };

/** nestjsx/crud's paginated envelope. */
export interface Page<R> {
  data: R[];
  count: number;
  total: number;
  page: number;
  pageCount: number;
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type JoinKey<T extends EntityTypes, K> = K extends keyof T["joins"] ? T["joins"][K] : never;
type Selected<Row, F extends string> = [F] extends [never] ? Row : Pick<Row, Extract<F | "id", keyof Row>>;
type Joined<T extends EntityTypes, J extends string> = {
  [K in J as JoinKey<T, K> & string]: JoinKey<T, K> extends keyof T["relations"] ? T["relations"][JoinKey<T, K>] : never;
};
/** A row as a read returns it: the `fields` asked for (all when none) and the relations joined. */
export type Result<T extends EntityTypes, F extends string = never, J extends string = never> = Simplify<
  Selected<T["row"], F> & Joined<T, J>
>;
type ListResult<T extends EntityTypes, R> = T["paged"] extends true ? Page<R> : R[];

/** Per-call options of every request. */
export interface CallOptions {
  /** Writes send a random `Idempotency-Key` per call; give one to retry a call safely, or `false` for none. */
  idempotencyKey?: string | false;
  headers?: Record<string, string>;
  signal?: unknown;
}

export interface ReadOptions<F extends string, J extends string> extends CallOptions {
  fields?: readonly F[];
  join?: readonly J[];
}

/** A field's problem in a `VALIDATION_FAILED` answer. */
export interface FieldProblem {
  field: string;
  message: string;
  code: string;
}

interface ErrorBase<C extends string> {
  statusCode: number;
  message: string | string[];
  error: string;
  code: C;
}
type SpecialCode = "VALIDATION_FAILED" | "UNIQUE_VIOLATION" | "REFERENCED_BY";
/** An API error's body, told apart by its stable `code`. */
export type ApiErrorBody =
  | (ErrorBase<"VALIDATION_FAILED"> & { errors: FieldProblem[] })
  | (ErrorBase<"UNIQUE_VIOLATION"> & { fields: string[] })
  | (ErrorBase<"REFERENCED_BY"> & { referencedBy: string[] })
  | ErrorBase<Exclude<ErrorCode, SpecialCode>>;

/** Thrown by every call that does not succeed; `body.code` says why. */
export class ApiError extends Error {
  readonly status: number;
  readonly body: ApiErrorBody;

  constructor(status: number, body: ApiErrorBody) {
    super(Array.isArray(body.message) ? body.message.join("; ") : body.message);
    this.name = "ApiError";
    this.status = status;
    this.body = body;
  }

  get code(): ErrorCode {
    return this.body.code;
  }
}

/** Whether `error` is an `ApiError` (with `code`, when given), narrowing its body. */
export function isApiError<C extends ErrorCode>(
  error: unknown,
  code?: C,
): error is ApiError & { readonly body: Extract<ApiErrorBody, { code: C }> } {
  return error instanceof ApiError && (code === undefined || error.body.code === code);
}

/** Whether a browser sends cookies: `"include"` sends Better Auth's session cookie across origins too. */
export type Credentials = "include" | "same-origin" | "omit";

/** What `fetch` must look like (the global one by default). */
export type FetchLike = (
  url: string,
  init: { method: string; headers: Record<string, string>; body?: string; credentials?: Credentials; signal?: any },
) => Promise<{ status: number; ok: boolean; text(): Promise<string> }>;

type Secret = string | null | undefined | (() => string | null | undefined | Promise<string | null | undefined>);

export interface ClientOptions {
  /** Where the server is (`https://api.example.com`); the page's own origin when left out. */
  baseUrl?: string;
  /** The API's path prefix. */
  prefix?: string;
  /** A session token (sign-in's `set-auth-token`), sent as `Authorization: Bearer`; or a function returning it. */
  token?: Secret;
  /** An API key, sent as `x-api-key`. */
  apiKey?: Secret;
  /** The cookie mode: Better Auth's session cookie travels with `"include"` (the default). */
  credentials?: Credentials;
  headers?: Record<string, string>;
  fetch?: FetchLike;
}

function randomKey(): string {
  const crypto = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto;
  if (crypto?.randomUUID) return crypto.randomUUID();
  // Only where no Web Crypto exists: a version 4 UUID from Math.random.
  return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, (c) => {
    const r = (Math.random() * 16) | 0;
    return (c === "x" ? r : (r & 0x3) | 0x8).toString(16);
  });
}

async function reveal(secret: Secret): Promise<string | null | undefined> {
  return typeof secret === "function" ? secret() : secret;
}

function text(value: unknown): string {
  if (value instanceof Date) return value.toISOString();
  return String(value);
}

type Params = [string, string][];

/** The HTTP layer every resource shares: headers, credentials, JSON in and out, errors thrown. */
export class Http {
  private readonly options: ClientOptions;

  constructor(options: ClientOptions = {}) {
    this.options = options;
  }

  async request<R>(method: string, path: string, params: Params, body: unknown, call: CallOptions | undefined, write: boolean): Promise<R> {
    const o = this.options;
    const headers: Record<string, string> = { accept: "application/json", ...o.headers, ...call?.headers };
    const token = await reveal(o.token);
    if (token) headers.authorization = `Bearer ${token}`;
    const apiKey = await reveal(o.apiKey);
    if (apiKey) headers["x-api-key"] = apiKey;
    if (write && call?.idempotencyKey !== false) headers["idempotency-key"] = call?.idempotencyKey ?? randomKey();
    if (body !== undefined) headers["content-type"] = "application/json";
    const query = params.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join("&");
    const url = `${(o.baseUrl ?? "").replace(/\/$/, "")}${o.prefix ?? "/api"}${path}${query ? `?${query}` : ""}`;
    const fetcher = o.fetch ?? (globalThis as unknown as { fetch: FetchLike }).fetch;
    let response: Awaited<ReturnType<FetchLike>>;
    try {
      response = await fetcher(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: o.credentials ?? "include",
        signal: call?.signal,
      });
    } catch (cause) {
      throw new ApiError(0, { statusCode: 0, message: String(cause), error: "Network Error", code: "NETWORK_ERROR" });
    }
    const raw = await response.text();
    let parsed: unknown = undefined;
    if (raw) {
      try {
        parsed = JSON.parse(raw);
      } catch {
        parsed = undefined;
      }
    }
    if (!response.ok) {
      const shaped = parsed as Partial<ApiErrorBody> | undefined;
      if (shaped && typeof shaped === "object" && typeof shaped.code === "string") {
        throw new ApiError(response.status, { statusCode: response.status, error: "", message: "", ...shaped } as ApiErrorBody);
      }
      throw new ApiError(response.status, {
        statusCode: response.status,
        message: raw.slice(0, 200) || `HTTP ${response.status}`,
        error: "Unexpected Response",
        code: "UNEXPECTED_RESPONSE",
      });
    }
    if (raw && parsed === undefined) {
      throw new ApiError(response.status, {
        statusCode: response.status,
        message: "The answer is not JSON",
        error: "Unexpected Response",
        code: "UNEXPECTED_RESPONSE",
      });
    }
    return parsed as R;
  }
}

function readParams(fields?: readonly string[], join?: readonly string[]): Params {
  const params: Params = [];
  if (fields && fields.length) params.push(["fields", fields.join(",")]);
  for (const j of join ?? []) params.push(["join", j]);
  return params;
}

function conditionParam(condition: readonly unknown[]): string {
  const [field, op, value] = condition;
  if (condition.length < 3) return `${field}||${op}`;
  return `${field}||${op}||${Array.isArray(value) ? value.map(text).join(",") : text(value)}`;
}

/** The operations on one entity's rows (`/api/<route>`). */
export class Resource<T extends EntityTypes> {
  constructor(
    private readonly http: Http,
    readonly route: string,
    private readonly tenantField: string | null,
  ) {}

  private path(id?: T["id"], suffix = ""): string {
    return id === undefined ? `/${this.route}${suffix}` : `/${this.route}/${encodeURIComponent(String(id))}${suffix}`;
  }

  /** The rows of the active organization whose tenant column is `tenantId` (the seed's `list(orgId)`). */
  list(tenantId: T["tenant"] extends true ? string : never, options?: CallOptions): Promise<ListResult<T, T["row"]>>;
  /** With `page` or `offset`: the paginated envelope. */
  list<F extends T["field"] = never, J extends keyof T["joins"] & string = never>(
    query: ListQuery<T, F, J> & Paged,
    options?: CallOptions,
  ): Promise<Page<Result<T, F, J>>>;
  /** Rows matching `query` (a plain array unless the entity always paginates). */
  list<F extends T["field"] = never, J extends keyof T["joins"] & string = never>(
    query?: ListQuery<T, F, J> & Unpaged,
    options?: CallOptions,
  ): Promise<ListResult<T, Result<T, F, J>>>;
  list(
    query?: string | (ListQuery<T, string, string> & { page?: number; offset?: number }),
    options?: CallOptions,
  ): Promise<unknown> {
    const params: Params = [];
    if (typeof query === "string") {
      if (!this.tenantField) throw new TypeError(`${this.route} has no tenant column to list by`);
      params.push([this.tenantField, query]);
    } else if (query) {
      if (query.fields && query.fields.length) params.push(["fields", query.fields.join(",")]);
      for (const c of query.filter ?? []) params.push(["filter", conditionParam(c)]);
      for (const c of query.or ?? []) params.push(["or", conditionParam(c)]);
      for (const [k, v] of Object.entries(query.where ?? {})) if (v !== undefined) params.push([k, text(v)]);
      if (query.search) params.push(["s", JSON.stringify(query.search)]);
      for (const s of query.sort ?? []) params.push(["sort", typeof s === "string" ? `${s},ASC` : `${s[0]},${s[1]}`]);
      for (const j of query.join ?? []) params.push(["join", j]);
      if (query.limit !== undefined) params.push(["limit", String(query.limit)]);
      if (query.page !== undefined) params.push(["page", String(query.page)]);
      if (query.offset !== undefined) params.push(["offset", String(query.offset)]);
      if (query.includeDeleted) params.push(["include_deleted", "1"]);
    }
    return this.http.request("GET", this.path(), params, undefined, options, false);
  }

  /** One row by id (404 `NOT_FOUND` when it does not exist or is another organization's). */
  get<F extends T["field"] = never, J extends keyof T["joins"] & string = never>(
    id: T["id"],
    options?: ReadOptions<F, J>,
  ): Promise<Result<T, F, J>> {
    return this.http.request("GET", this.path(id), readParams(options?.fields, options?.join), undefined, options, false);
  }

  /** Create a row; the server answers with it as stored. */
  create(body: T["create"], options?: CallOptions): Promise<T["row"]> {
    return this.http.request("POST", this.path(), [], body, options, true);
  }

  /** Create several rows at once (`/bulk`): all of them or none. */
  createMany(bodies: readonly T["create"][], options?: CallOptions): Promise<T["row"][]> {
    return this.http.request("POST", this.path(undefined, "/bulk"), [], { bulk: bodies }, options, true);
  }

  /** Change the fields given (PATCH). */
  update(id: T["id"], body: T["update"], options?: CallOptions): Promise<T["row"]> {
    return this.http.request("PATCH", this.path(id), [], body, options, true);
  }

  /** PUT, as the seed's client calls `update`: the fields given are changed, nothing is inserted. */
  replace(id: T["id"], body: T["update"], options?: CallOptions): Promise<T["row"]> {
    return this.http.request("PUT", this.path(id), [], body, options, true);
  }

  /** Delete a row (409 `REFERENCED_BY` while other rows point at it). */
  async delete(id: T["id"], options?: CallOptions): Promise<void> {
    await this.http.request("DELETE", this.path(id), [], undefined, options, true);
  }

  /** Restore a soft-deleted row. */
  recover(id: T["softDelete"] extends true ? T["id"] : never, options?: CallOptions): Promise<T["row"]> {
    return this.http.request("PATCH", this.path(id, "/recover"), [], undefined, options, true);
  }
}
