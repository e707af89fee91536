// Prints Better Auth's error code tables as JSON, {"<table>": {"<CODE>": "<message>"}}: the core's
// BASE_ERROR_CODES and those each plugin Tenantry implements declares ($ERROR_CODES).
import { BASE_ERROR_CODES } from "@better-auth/core/error";
import { admin, organization, twoFactor, magicLink } from "better-auth/plugins";
import { apiKey } from "@better-auth/api-key";
import { passkey } from "@better-auth/passkey";

const messages = (table) =>
  Object.fromEntries(
    Object.entries(table ?? {}).map(([code, value]) => [code, typeof value === "string" ? value : value.message]),
  );

const tables = {
  base: BASE_ERROR_CODES,
  organization: organization().$ERROR_CODES,
  admin: admin().$ERROR_CODES,
  "two-factor": twoFactor().$ERROR_CODES,
  "magic-link": magicLink({ sendMagicLink: async () => {} }).$ERROR_CODES,
  "api-key": apiKey().$ERROR_CODES,
  passkey: passkey().$ERROR_CODES,
};
console.log(JSON.stringify(Object.fromEntries(Object.entries(tables).map(([name, t]) => [name, messages(t)]))));
