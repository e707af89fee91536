"""The organization plugin's ``/api/auth/organization/*`` endpoints in the OpenAPI document."""

from __future__ import annotations

from typing import Any

from tenantry.auth.openapi import (
    ANY_OBJECT,
    BOOLEAN,
    ID,
    INTEGER,
    NULL_STRING,
    NULL_TIME,
    STATUS,
    STRING,
    AuthOp,
    auth_part,
    body,
)
from tenantry.core.openapi import OpenApiPart, nullable, obj, ref

_P = "/organization"
ORG = ref("AuthOrganization")
MEMBER = ref("AuthMember")
INVITATION = ref("AuthInvitation")
_ORG_ID = ("organizationId", STRING, False)
_PERMISSIONS = {"type": "object", "additionalProperties": {"type": "array", "items": STRING}}
_ROLE = {"anyOf": [STRING, {"type": "array", "items": STRING}]}


def _schemas() -> dict[str, Any]:
    org = {
        **obj(
            ("id", "name", "slug"),
            id=STRING,
            name=NULL_STRING,
            slug=NULL_STRING,
            logo=NULL_STRING,
            createdAt=NULL_TIME,
            metadata={},
        ),
        "description": "Better Auth's organization, with the organizations entity's other fields",
    }
    member_user = obj(("id", "email"), id=ID, name=NULL_STRING, email=STRING, image=NULL_STRING)
    member = obj(
        ("id", "organizationId", "userId", "role", "createdAt"),
        id=STRING,
        organizationId=STRING,
        userId=ID,
        role=STRING,
        createdAt=NULL_TIME,
        user=member_user,
    )
    invitation = obj(
        ("id", "organizationId", "email", "role", "status", "expiresAt", "createdAt", "inviterId"),
        id=STRING,
        organizationId=STRING,
        email=STRING,
        role=STRING,
        status={"type": "string", "enum": ["pending", "accepted", "rejected", "canceled"]},
        expiresAt=NULL_TIME,
        createdAt=NULL_TIME,
        inviterId={"type": ["string", "integer", "null"]},
    )
    full = {
        "allOf": [
            ORG,
            obj(
                ("members", "invitations"),
                members={"type": "array", "items": MEMBER},
                invitations={"type": "array", "items": INVITATION},
            ),
        ]
    }
    return {"AuthOrganization": org, "AuthMember": member, "AuthInvitation": invitation, "AuthFullOrganization": full}


_NOT_MEMBER = {403: "Not a member of the organization, or not allowed (the role's permissions)"}

OPS: tuple[AuthOp, ...] = (
    AuthOp(
        "POST",
        f"{_P}/create",
        "Create an organization; the user becomes its owner",
        {"allOf": [ORG, obj(("members",), members={"type": "array", "items": MEMBER})]},
        body=body(
            ("name", "slug"),
            name=STRING,
            slug=STRING,
            logo=STRING,
            metadata=ANY_OBJECT,
            keepCurrentActiveOrganization=BOOLEAN,
        ),
    ),
    AuthOp(
        "POST",
        f"{_P}/check-slug",
        "Whether a slug is free",
        STATUS,
        body=body(("slug",), slug=STRING),
        session=False,
    ),
    AuthOp("GET", f"{_P}/list", "The user's organizations", {"type": "array", "items": ORG}),
    AuthOp(
        "POST",
        f"{_P}/set-active",
        "Choose the session's active organization (`null` clears it)",
        nullable(ORG),
        body=body(organizationId=NULL_STRING, organizationSlug=STRING),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "GET",
        f"{_P}/get-organization",
        "An organization of the user's",
        ORG,
        query=(_ORG_ID, ("organizationSlug", STRING, False)),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "GET",
        f"{_P}/get-full-organization",
        "An organization with its members and invitations (the active one by default)",
        nullable(ref("AuthFullOrganization")),
        query=(_ORG_ID, ("organizationSlug", STRING, False), ("membersLimit", INTEGER, False)),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "POST",
        f"{_P}/update",
        "Change an organization",
        ORG,
        body=body(("data",), data=ANY_OBJECT, organizationId=STRING),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "POST",
        f"{_P}/delete",
        "Delete an organization (its owners)",
        ORG,
        body=body(("organizationId",), organizationId=STRING),
        errors=_NOT_MEMBER,
    ),
    AuthOp("GET", f"{_P}/get-active-member", "The user's membership of the active organization", MEMBER),
    AuthOp(
        "GET",
        f"{_P}/get-active-member-role",
        "The user's role in the active organization (or another member's)",
        obj(("role",), role=STRING),
        query=(("userId", STRING, False), _ORG_ID),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "GET",
        f"{_P}/list-members",
        "The members of an organization",
        obj(("members", "total"), members={"type": "array", "items": MEMBER}, total=INTEGER),
        query=(
            _ORG_ID,
            ("limit", INTEGER, False),
            ("offset", INTEGER, False),
            ("sortBy", STRING, False),
            ("sortDirection", {"type": "string", "enum": ["asc", "desc"]}, False),
            ("filterField", STRING, False),
            ("filterValue", STRING, False),
            ("filterOperator", STRING, False),
        ),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "POST",
        f"{_P}/remove-member",
        "Remove a member",
        obj(("member",), member=MEMBER),
        body=body(("memberIdOrEmail",), memberIdOrEmail=STRING, organizationId=STRING),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "POST",
        f"{_P}/update-member-role",
        "Change a member's role",
        MEMBER,
        body=body(("memberId", "role"), memberId=STRING, role=_ROLE, organizationId=STRING),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "POST",
        f"{_P}/leave",
        "Leave an organization",
        MEMBER,
        body=body(("organizationId",), organizationId=STRING),
    ),
    AuthOp(
        "POST",
        f"{_P}/has-permission",
        "Whether the user's role allows the permissions",
        obj(("success",), success=BOOLEAN, error=NULL_STRING),
        body=body(permissions=_PERMISSIONS, permission=_PERMISSIONS, organizationId=STRING),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "POST",
        f"{_P}/invite-member",
        "Invite someone by email",
        INVITATION,
        body=body(("email", "role"), email=STRING, role=_ROLE, organizationId=STRING, resend=BOOLEAN),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "POST",
        f"{_P}/accept-invitation",
        "Accept an invitation",
        obj(("invitation", "member"), invitation=INVITATION, member=MEMBER),
        body=body(("invitationId",), invitationId=STRING),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "POST",
        f"{_P}/reject-invitation",
        "Reject an invitation",
        obj(("invitation", "member"), invitation=INVITATION, member={"type": "null"}),
        body=body(("invitationId",), invitationId=STRING),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "POST",
        f"{_P}/cancel-invitation",
        "Cancel an invitation",
        INVITATION,
        body=body(("invitationId",), invitationId=STRING),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "GET",
        f"{_P}/get-invitation",
        "An invitation addressed to the user, with its organization",
        {
            "allOf": [
                INVITATION,
                obj(organizationName=NULL_STRING, organizationSlug=NULL_STRING, inviterEmail=STRING),
            ]
        },
        query=(("id", STRING, True),),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "GET",
        f"{_P}/list-invitations",
        "The invitations of an organization",
        {"type": "array", "items": INVITATION},
        query=(_ORG_ID,),
        errors=_NOT_MEMBER,
    ),
    AuthOp(
        "GET",
        f"{_P}/list-user-invitations",
        "The invitations addressed to the user",
        {"type": "array", "items": INVITATION},
        query=(("email", STRING, False),),
    ),
)


def organization_part(user_schema: str | None) -> OpenApiPart:
    """The organization plugin's endpoints and the organization, member and invitation shapes; and
    the users entity's rows (``user_schema``) as the API shows them to a signed-in user: ``org_id``,
    ``role`` and ``organization`` are their membership of the caller's active organization."""
    part = auth_part(
        OPS, "organization", "Better Auth's organization plugin: organizations, members, invitations", _schemas()
    )
    if user_schema is None:
        return part
    membership = "Their membership of the caller's active organization (null when they have none there)"
    properties = {
        user_schema: {
            "org_id": {"type": ["string", "null"], "description": membership},
            "role": {"type": ["string", "null"], "description": membership},
            "organization": {**nullable(ref("OrganizationSummary")), "readOnly": True, "description": membership},
        }
    }
    return OpenApiPart(part.paths, part.schemas, part.tags, properties=properties)
