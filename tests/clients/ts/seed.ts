// The seed's lib/api-client.ts calling shape, typed, on the client of the seed's own schema
// (examples/saas/schema.yaml). Compiled (never run) by test_typescript_client.py.
import { createClient, isApiError, type Organization, type Project } from "./client/index.js";

const api = createClient({ baseUrl: "http://127.0.0.1:8000", token: () => "token from sign-in" });

export async function seedCalls(orgId: string): Promise<Project[]> {
  const org: Organization = await api.organizations.create({ name: "Acme Corp", slug: "acme" });
  await api.users.create({ id: "better-auth-user-id", email: "ada@example.com", name: "Ada", org_id: org.id, role: "admin" });
  const projects = await api.projects.list(orgId);
  await api.projects.update(projects[0].id, { status: "archived" });
  await api.projects.replace(projects[0].id, { name: "Renamed" });
  await api.projects.delete(projects[0].id);
  // @ts-expect-error not a status of projects
  await api.projects.update(projects[0].id, { status: "done" });
  // @ts-expect-error the slug is required
  await api.organizations.create({ name: "no slug" });
  // @ts-expect-error subscriptions have no `plan` join
  await api.subscriptions.list({ join: ["plan"] });
  try {
    return await api.projects.list({ filter: [["organization.slug", "$eq", "acme"]], join: ["user"] });
  } catch (e) {
    if (isApiError(e, "NO_ACTIVE_ORGANIZATION")) return [];
    throw e;
  }
}
