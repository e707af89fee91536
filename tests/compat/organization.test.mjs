// Better Auth's organization plugin client (organizationClient, better-auth pinned in package.json)
// against a Tenantry server.
//
// Run by tests/compat/test_better_auth_client.py (test_better_auth_organization_client), which
// starts the server with its defaults (sign-up requires e-mail verification) and passes BASE_URL.
// Each "browser" is a client with its own cookie jar and the browser's Origin (harness.mjs).
import assert from "node:assert/strict";
import { test } from "node:test";
import { organizationClient } from "better-auth/client/plugins";
import { BASE, PASSWORD, mailTo, mailbox, newBrowser, unique, uniqueName, verifiedUser } from "./harness.mjs";

const browser = () => newBrowser([organizationClient()]);

// Signed up, verified through the e-mailed link, signed in.
async function signedIn(name) {
  const b = browser();
  const email = unique(name);
  await verifiedUser(b, email, name);
  const signIn = await b.client.signIn.email({ email, password: PASSWORD });
  assert.equal(signIn.error, null);
  return { ...b, email, id: signIn.data.user.id };
}

test("create, checkSlug, list, setActive and getFullOrganization", async () => {
  const ann = await signedIn("ann");
  const slug = uniqueName("compat");
  const created = await ann.client.organization.create({ name: "Compat Org", slug, metadata: { plan: "pro" } });
  assert.equal(created.error, null);
  assert.equal(created.data.slug, slug);
  assert.deepEqual(created.data.metadata, { plan: "pro" });
  assert.equal(created.data.members.length, 1);
  assert.equal(created.data.members[0].role, "admin"); // Better Auth's owner is the schema's top role
  assert.equal(created.data.members[0].userId, ann.id);
  assert.ok(created.data.createdAt instanceof Date); // the client revives ISO dates

  const taken = await ann.client.organization.checkSlug({ slug });
  assert.equal(taken.error.status, 400);
  assert.equal(taken.error.code, "ORGANIZATION_SLUG_ALREADY_TAKEN");
  const free = await ann.client.organization.checkSlug({ slug: uniqueName("free") });
  assert.deepEqual(free.data, { status: true });
  const again = await ann.client.organization.create({ name: "Again", slug });
  assert.equal(again.error.code, "ORGANIZATION_ALREADY_EXISTS");

  const second = await ann.client.organization.create({ name: "Second Org", keepCurrentActiveOrganization: true });
  assert.equal(second.error, null);
  assert.match(second.data.slug, /^second-org/); // generated from the name
  let session = await ann.client.getSession();
  assert.equal(session.data.session.activeOrganizationId, created.data.id);
  assert.equal(session.data.user.role, "admin");
  assert.deepEqual(session.data.user.organization, { id: created.data.id, name: "Compat Org", slug });

  const list = await ann.client.organization.list();
  assert.deepEqual(
    list.data.map((o) => o.id),
    [created.data.id, second.data.id],
  );

  const active = await ann.client.organization.setActive({ organizationId: second.data.id });
  assert.equal(active.error, null);
  assert.equal(active.data.id, second.data.id);
  session = await ann.client.getSession();
  assert.equal(session.data.session.activeOrganizationId, second.data.id);
  const bySlug = await ann.client.organization.setActive({ organizationSlug: slug });
  assert.equal(bySlug.data.id, created.data.id);

  const full = await ann.client.organization.getFullOrganization({ query: { organizationId: created.data.id } });
  assert.equal(full.error, null);
  assert.equal(full.data.name, "Compat Org");
  assert.deepEqual(full.data.invitations, []);
  assert.equal(full.data.members.length, 1);
  assert.deepEqual(full.data.members[0].user, { id: ann.id, name: "ann", email: ann.email, image: null });
  const member = await ann.client.organization.getActiveMember();
  assert.equal(member.data.role, "admin");
  assert.equal(member.data.organizationId, created.data.id);

  const cleared = await ann.client.organization.setActive({ organizationId: null });
  assert.equal(cleared.error, null);
  assert.equal(cleared.data, null);
  session = await ann.client.getSession();
  assert.equal(session.data.session.activeOrganizationId, null);
  const none = await ann.client.organization.getActiveMember();
  assert.equal(none.error.code, "NO_ACTIVE_ORGANIZATION");

  // Someone else's organization stays out of reach.
  const zed = await signedIn("zed");
  const refused = await zed.client.organization.setActive({ organizationId: created.data.id });
  assert.equal(refused.error.status, 403);
  assert.equal(refused.error.code, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
  const hidden = await zed.client.organization.getFullOrganization({ query: { organizationId: created.data.id } });
  assert.equal(hidden.error.code, "USER_IS_NOT_A_MEMBER_OF_THE_ORGANIZATION");
  const deleted = await ann.client.organization.delete({ organizationId: second.data.id });
  assert.equal(deleted.error, null);
  assert.equal(deleted.data.id, second.data.id);
});

test("inviteMember, acceptInvitation, roles, removeMember and leave", async () => {
  const ann = await signedIn("owner");
  const org = (await ann.client.organization.create({ name: "Team", slug: uniqueName("team") })).data;

  // An existing (verified) user accepts.
  const bob = await signedIn("bob");
  const invited = await ann.client.organization.inviteMember({ email: bob.email, role: "member" });
  assert.equal(invited.error, null);
  assert.equal(invited.data.status, "pending");
  assert.equal(invited.data.organizationId, org.id);
  const duplicate = await ann.client.organization.inviteMember({ email: bob.email, role: "member" });
  assert.equal(duplicate.error.code, "USER_IS_ALREADY_INVITED_TO_THIS_ORGANIZATION");
  const mail = await mailTo(bob.email, "invitation");
  const invitationId = mail.url.split("/").pop();
  assert.equal(invitationId, invited.data.id);
  assert.equal(mail.url, `${BASE}/accept-invitation/${invitationId}`);

  const details = await bob.client.organization.getInvitation({ query: { id: invitationId } });
  assert.equal(details.data.organizationName, "Team");
  assert.equal(details.data.inviterEmail, ann.email);
  const mine = await bob.client.organization.listUserInvitations();
  assert.deepEqual(
    mine.data.map((i) => i.id),
    [invitationId],
  );
  const accepted = await bob.client.organization.acceptInvitation({ invitationId });
  assert.equal(accepted.error, null);
  assert.equal(accepted.data.invitation.status, "accepted");
  assert.equal(accepted.data.member.role, "member");
  const reused = await bob.client.organization.acceptInvitation({ invitationId });
  assert.equal(reused.error.code, "INVITATION_NOT_FOUND");
  assert.equal((await bob.client.getSession()).data.session.activeOrganizationId, org.id);

  const members = await ann.client.organization.listMembers();
  assert.equal(members.data.total, 2);
  const bobMember = members.data.members.find((m) => m.userId === bob.id);
  assert.equal(bobMember.user.email, bob.email);

  // Members may not invite, nor manage roles; nobody removes or demotes the last admin.
  const notAllowed = await bob.client.organization.inviteMember({ email: unique("x"), role: "viewer" });
  assert.equal(notAllowed.error.status, 403);
  assert.equal(notAllowed.error.code, "YOU_ARE_NOT_ALLOWED_TO_INVITE_USERS_TO_THIS_ORGANIZATION");
  const onlyOwner = await ann.client.organization.leave({ organizationId: org.id });
  assert.equal(onlyOwner.error.code, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_AS_THE_ONLY_OWNER");
  const annMember = (await ann.client.organization.getActiveMember()).data;
  const selfDemote = await ann.client.organization.updateMemberRole({ memberId: annMember.id, role: "member" });
  assert.equal(selfDemote.error.code, "YOU_CANNOT_LEAVE_THE_ORGANIZATION_WITHOUT_AN_OWNER");
  const bobPromotes = await bob.client.organization.updateMemberRole({ memberId: bobMember.id, role: "admin" });
  assert.equal(bobPromotes.error.code, "YOU_ARE_NOT_ALLOWED_TO_UPDATE_THIS_MEMBER");
  const unknownRole = await ann.client.organization.updateMemberRole({ memberId: bobMember.id, role: "boss" });
  assert.equal(unknownRole.error.code, "ROLE_NOT_FOUND");

  const asViewer = await ann.client.organization.updateMemberRole({ memberId: bobMember.id, role: "viewer" });
  assert.equal(asViewer.error, null);
  assert.equal(asViewer.data.role, "viewer");
  assert.equal((await bob.client.organization.getActiveMember()).data.role, "viewer");
  const perms = await ann.client.organization.hasPermission({ permissions: { member: ["delete"] } });
  assert.equal(perms.data.success, true);
  const bobPerms = await bob.client.organization.hasPermission({ permissions: { member: ["delete"] } });
  assert.equal(bobPerms.data.success, false);

  const removed = await ann.client.organization.removeMember({ memberIdOrEmail: bob.email });
  assert.equal(removed.error, null);
  assert.equal(removed.data.member.userId, bob.id);
  const bobSession = await bob.client.getSession();
  assert.equal(bobSession.data.session.activeOrganizationId, null);
  assert.equal(bobSession.data.user.organization, null);

  // A new user signs up through the invitation link: verified, in the organization, with the role.
  const carol = browser();
  const carolEmail = unique("carol");
  const invitation = (await ann.client.organization.inviteMember({ email: carolEmail, role: "member" })).data;
  const carolMail = await mailTo(carolEmail, "invitation");
  const signUp = await carol.client.signUp.email({
    email: carolEmail,
    password: PASSWORD,
    name: "Carol",
    invitationId: carolMail.url.split("/").pop(),
  });
  assert.equal(signUp.error, null);
  assert.equal(signUp.data.user.emailVerified, true);
  assert.ok(signUp.data.token);
  const carolSession = await carol.client.getSession();
  assert.equal(carolSession.data.session.activeOrganizationId, org.id);
  assert.equal(carolSession.data.user.role, "member");
  const carolMember = await carol.client.organization.getActiveMember();
  assert.equal(carolMember.data.role, "member");
  const listed = await ann.client.organization.listInvitations();
  assert.equal(listed.data.find((i) => i.id === invitation.id).status, "accepted");

  const left = await carol.client.organization.leave({ organizationId: org.id });
  assert.equal(left.error, null);
  assert.equal(left.data.userId, signUp.data.user.id);
  assert.equal((await carol.client.getSession()).data.session.activeOrganizationId, null);
  const after = await ann.client.organization.listMembers();
  assert.equal(after.data.total, 1);
});

test("sign-up with an organization is all or nothing", async () => {
  const first = browser();
  const email = unique("founder");
  const slug = uniqueName("founded");
  const signUp = await first.client.signUp.email({
    email,
    password: PASSWORD,
    name: "Founder",
    organizationName: "Founded Co",
    organizationSlug: slug,
  });
  assert.equal(signUp.error, null);
  assert.equal(signUp.data.token, null); // verification first, as without an organization

  const second = browser();
  const clashEmail = unique("clash");
  const clash = await second.client.signUp.email({
    email: clashEmail,
    password: PASSWORD,
    name: "Clash",
    organizationName: "Clash Co",
    organizationSlug: slug,
  });
  assert.equal(clash.error.status, 400);
  assert.equal(clash.error.code, "ORGANIZATION_ALREADY_EXISTS");
  // Rolled back with the organization: no user, so no verification mail either.
  const clashMail = await mailbox(clashEmail);
  assert.deepEqual(clashMail, []);

  const mail = await mailTo(email, "verify_email");
  await first.client.verifyEmail({ query: { token: new URL(mail.url).searchParams.get("token") } });
  await first.client.signIn.email({ email, password: PASSWORD });
  const session = await first.client.getSession();
  assert.equal(session.data.user.role, "admin");
  assert.equal(session.data.user.organization.slug, slug);
  const check = await first.client.organization.checkSlug({ slug });
  assert.equal(check.error.code, "ORGANIZATION_SLUG_ALREADY_TAKEN");
});
