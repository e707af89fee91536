// Array columns of an `.apsorc` schema in the typed client: `$cont` takes one element, `$in` several,
// of the element's type; other operators are compile errors. Compiled (never run).
import { createClient, type Article } from "./client/index.js";

const api = createClient({ baseUrl: "http://127.0.0.1:8000", token: () => "token" });

export async function arrayCalls(): Promise<Article[][]> {
  const made: Article = await api.Article.create({ title: "one", tags: ["red"], scores: [1, 2] });
  const tags: string[] | null = made.tags;
  return [
    (await api.Article.list({ filter: [["tags", "$cont", "red"]] })).data,
    (await api.Article.list({ filter: [["scores", "$in", [1, 2]], ["flags", "$isnull"]] })).data,
    // @ts-expect-error arrays take no equality
    (await api.Article.list({ filter: [["tags", "$eq", "red"]] })).data,
    // @ts-expect-error an element of the wrong type
    (await api.Article.list({ filter: [["scores", "$cont", "x"]] })).data,
    // @ts-expect-error no sorting by an array
    (await api.Article.list({ sort: [["tags", "ASC"]] })).data,
    tags === null ? [] : [made],
  ];
}
