"""The runtime of a generated Python client: HTTP through httpx (sync and async), the nestjsx/crud
query string, typed errors. The same for every schema: ``tenantry client python`` copies it into
the package as ``_runtime.py``; the generated ``models.py`` and ``client.py`` give it its types.

It imports nothing of Tenantry, so the generated package depends on httpx alone.
"""

from __future__ import annotations

import builtins
import datetime as dt
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Generic, Literal, TypeAlias, TypedDict, TypeVar, cast, overload
from urllib.parse import quote

import httpx

JsonValue: TypeAlias = str | int | float | bool | list["JsonValue"] | dict[str, "JsonValue"] | None
SortOrder = Literal["ASC", "DESC"]
NullOp = Literal["$isnull", "$notnull"]
EqualityOp = Literal["$eq", "$ne"]
CompareOp = Literal["$eq", "$ne", "$gt", "$lt", "$gte", "$lte"]
ListOp = Literal["$in", "$notin"]
BetweenOp = Literal["$between"]
LikeOp = Literal["$starts", "$ends", "$cont", "$excl", "$eqL", "$neL", "$startsL", "$endsL", "$contL", "$exclL"]
CiListOp = Literal["$inL", "$notinL"]

# A secret given as a value or fetched per request (a token kept elsewhere).
Secret: TypeAlias = str | Callable[[], str | None] | None

RowT = TypeVar("RowT")
CreateT = TypeVar("CreateT")
UpdateT = TypeVar("UpdateT")
CondT = TypeVar("CondT")
SortT = TypeVar("SortT", bound=str)
FieldT = TypeVar("FieldT", bound=str)
JoinT = TypeVar("JoinT", bound=str)
ListT = TypeVar("ListT")


class Page(TypedDict, Generic[RowT]):
    """nestjsx/crud's paginated envelope."""

    data: list[RowT]
    count: int
    total: int
    page: int
    pageCount: int


class FieldProblem(TypedDict):
    """One field's problem in a ``VALIDATION_FAILED`` answer."""

    field: str
    message: str
    code: str


# -- errors ------------------------------------------------------------------------------------


class ApiError(Exception):
    """A call that did not succeed: the HTTP status, the stable ``code`` and the whole answer."""

    def __init__(self, status: int, body: Mapping[str, Any]) -> None:
        message = body.get("message", "")
        super().__init__("; ".join(message) if isinstance(message, list) else str(message))
        self.status = status
        self.code: str = str(body.get("code", "UNEXPECTED_RESPONSE"))
        self.message: str | list[str] = message if isinstance(message, (str, list)) else str(message)
        self.body: Mapping[str, Any] = body


class BadRequestError(ApiError):
    """400: the query or the body is not one the API accepts (``INVALID_FILTER``, ``INVALID_ID`` …)."""


class ValidationFailedError(BadRequestError):
    """400 ``VALIDATION_FAILED``: ``errors`` names each field's problem."""

    @property
    def errors(self) -> list[FieldProblem]:
        return cast(list[FieldProblem], self.body.get("errors", []))


class UnauthorizedError(ApiError):
    """401: no session, token or API key the server accepts."""


class ForbiddenError(ApiError):
    """403: signed in, but not allowed (``FORBIDDEN_ACTION``, ``NO_ACTIVE_ORGANIZATION`` …)."""


class NotFoundError(ApiError):
    """404: no such row (or another organization's), or no such route."""


class ConflictError(ApiError):
    """409: a unique value taken, or a row still referenced."""


class UniqueViolationError(ConflictError):
    """409 ``UNIQUE_VIOLATION``: ``fields`` names the columns whose value is taken."""

    @property
    def fields(self) -> list[str]:
        return cast(list[str], self.body.get("fields", []))


class ReferencedByError(ConflictError):
    """409 ``REFERENCED_BY``: other rows still point at the row being deleted."""

    @property
    def referenced_by(self) -> list[str]:
        return cast(list[str], self.body.get("referencedBy", []))


class RateLimitedError(ApiError):
    """429: too many requests."""


class UnavailableError(ApiError):
    """503 ``DATABASE_UNAVAILABLE``: try again shortly."""


class NetworkError(ApiError):
    """No answer at all (``NETWORK_ERROR``): the server could not be reached."""


_BY_CODE: dict[str, type[ApiError]] = {
    "VALIDATION_FAILED": ValidationFailedError,
    "UNIQUE_VIOLATION": UniqueViolationError,
    "REFERENCED_BY": ReferencedByError,
}
_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitedError,
    503: UnavailableError,
}


def error_for(status: int, body: Mapping[str, Any]) -> ApiError:
    """The most specific error class for an answer."""
    kind = _BY_CODE.get(str(body.get("code"))) or _BY_STATUS.get(status, ApiError)
    return kind(status, body)


# -- requests ----------------------------------------------------------------------------------


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    return str(value)


def _json_default(value: object) -> object:
    """Values a body may hold that JSON has no type for, as the API reads them."""
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (Decimal, uuid.UUID)):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _condition(condition: Sequence[object]) -> str:
    field, op, *rest = condition
    if not rest:
        return f"{field}||{op}"
    value = rest[0]
    if isinstance(value, (list, tuple)):
        return f"{field}||{op}||{','.join(_text(v) for v in value)}"
    return f"{field}||{op}||{_text(value)}"


Params = list[tuple[str, str]]


def list_params(
    tenant: tuple[str, str] | None,
    *,
    fields: Sequence[str] | None,
    filter: Sequence[Sequence[object]] | None,
    or_: Sequence[Sequence[object]] | None,
    where: Mapping[str, object] | None,
    search: Mapping[str, JsonValue] | None,
    sort: Sequence[str | tuple[str, SortOrder]] | None,
    join: Sequence[str] | None,
    limit: int | None,
    page: int | None,
    offset: int | None,
    include_deleted: bool,
) -> Params:
    """The query string of a list, in nestjsx/crud's language."""
    params: Params = []
    if tenant is not None:
        params.append(tenant)
    if fields:
        params.append(("fields", ",".join(fields)))
    params += [("filter", _condition(c)) for c in filter or ()]
    params += [("or", _condition(c)) for c in or_ or ()]
    params += [(k, _text(v)) for k, v in (where or {}).items() if v is not None]
    if search is not None:
        params.append(("s", json.dumps(search)))
    params += [("sort", f"{s},ASC" if isinstance(s, str) else f"{s[0]},{s[1]}") for s in sort or ()]
    params += [("join", j) for j in join or ()]
    for key, number in (("limit", limit), ("page", page), ("offset", offset)):
        if number is not None:
            params.append((key, str(number)))
    if include_deleted:
        params.append(("include_deleted", "1"))
    return params


def read_params(fields: Sequence[str] | None, join: Sequence[str] | None) -> Params:
    params: Params = [("fields", ",".join(fields))] if fields else []
    return params + [("join", j) for j in join or ()]


class _Request:
    """One request, built the same way for the sync and the async client."""

    def __init__(
        self,
        method: str,
        path: str,
        params: Params,
        body: object,
        *,
        write: bool,
        idempotency_key: str | Literal[False] | None,
        token: str | None,
        api_key: str | None,
    ) -> None:
        self.method = method
        self.path = path
        self.params = params
        self.headers: dict[str, str] = {"accept": "application/json"}
        if token:
            self.headers["authorization"] = f"Bearer {token}"
        if api_key:
            self.headers["x-api-key"] = api_key
        if write and idempotency_key is not False:
            self.headers["idempotency-key"] = idempotency_key or str(uuid.uuid4())
        self.content: bytes | None = None
        if body is not None:
            self.headers["content-type"] = "application/json"
            self.content = json.dumps(body, default=_json_default).encode()

    @staticmethod
    def answer(response: httpx.Response) -> Any:
        """The decoded answer, or the error it carries raised."""
        try:
            parsed = response.json() if response.content else None
        except ValueError:
            parsed = None
            if response.is_success:
                raise ApiError(response.status_code, _unexpected(response)) from None
        if response.is_success:
            return parsed
        if isinstance(parsed, dict) and isinstance(parsed.get("code"), str):
            raise error_for(response.status_code, parsed)
        raise error_for(response.status_code, _unexpected(response))


def _unexpected(response: httpx.Response) -> dict[str, Any]:
    return {
        "statusCode": response.status_code,
        "message": response.text[:200] or f"HTTP {response.status_code}",
        "error": "Unexpected Response",
        "code": "UNEXPECTED_RESPONSE",
    }


def _network(exc: Exception) -> NetworkError:
    return NetworkError(0, {"statusCode": 0, "message": str(exc), "error": "Network Error", "code": "NETWORK_ERROR"})


def _reveal(secret: Secret) -> str | None:
    return secret() if callable(secret) else secret


class SyncHttp:
    """Requests through an ``httpx.Client``."""

    def __init__(self, client: httpx.Client, prefix: str, token: Secret, api_key: Secret) -> None:
        self.client = client
        self.prefix = prefix
        self.token = token
        self.api_key = api_key

    def request(
        self,
        method: str,
        path: str,
        params: Params,
        body: object = None,
        *,
        write: bool = False,
        idempotency_key: str | Literal[False] | None = None,
    ) -> Any:
        r = _Request(
            method,
            self.prefix + path,
            params,
            body,
            write=write,
            idempotency_key=idempotency_key,
            token=_reveal(self.token),
            api_key=_reveal(self.api_key),
        )
        try:
            response = self.client.request(
                r.method, r.path, params=tuple(r.params), headers=r.headers, content=r.content
            )
        except httpx.TransportError as exc:
            raise _network(exc) from exc
        return r.answer(response)


class AsyncHttp:
    """Requests through an ``httpx.AsyncClient``."""

    def __init__(self, client: httpx.AsyncClient, prefix: str, token: Secret, api_key: Secret) -> None:
        self.client = client
        self.prefix = prefix
        self.token = token
        self.api_key = api_key

    async def request(
        self,
        method: str,
        path: str,
        params: Params,
        body: object = None,
        *,
        write: bool = False,
        idempotency_key: str | Literal[False] | None = None,
    ) -> Any:
        r = _Request(
            method,
            self.prefix + path,
            params,
            body,
            write=write,
            idempotency_key=idempotency_key,
            token=_reveal(self.token),
            api_key=_reveal(self.api_key),
        )
        try:
            response = await self.client.request(
                r.method, r.path, params=tuple(r.params), headers=r.headers, content=r.content
            )
        except httpx.TransportError as exc:
            raise _network(exc) from exc
        return r.answer(response)


# -- resources ---------------------------------------------------------------------------------


class _Base(Generic[RowT, CreateT, UpdateT, CondT, SortT, FieldT, JoinT, ListT]):
    def __init__(self, route: str, tenant_field: str | None) -> None:
        self.route = route
        self.tenant_field = tenant_field

    def _path(self, row_id: str | int | None = None, suffix: str = "") -> str:
        if row_id is None:
            return f"/{self.route}{suffix}"
        return f"/{self.route}/{quote(str(row_id), safe='')}{suffix}"

    def _tenant(self, tenant_id: str | None) -> tuple[str, str] | None:
        if tenant_id is None:
            return None
        if self.tenant_field is None:
            raise TypeError(f"{self.route} has no tenant column to list by")
        return (self.tenant_field, tenant_id)


class SyncResource(_Base[RowT, CreateT, UpdateT, CondT, SortT, FieldT, JoinT, ListT]):
    """The operations on one entity's rows (``/api/<route>``), blocking."""

    def __init__(self, http: SyncHttp, route: str, tenant_field: str | None) -> None:
        super().__init__(route, tenant_field)
        self._http = http

    @overload
    def list(
        self,
        tenant_id: str | None = None,
        /,
        *,
        fields: Sequence[FieldT] | None = None,
        filter: Sequence[CondT] | None = None,
        or_: Sequence[CondT] | None = None,
        where: Mapping[str, object] | None = None,
        search: Mapping[str, JsonValue] | None = None,
        sort: Sequence[SortT | tuple[SortT, SortOrder]] | None = None,
        join: Sequence[JoinT] | None = None,
        limit: int | None = None,
        page: int,
        offset: int | None = None,
        include_deleted: bool = False,
    ) -> Page[RowT]: ...
    @overload
    def list(
        self,
        tenant_id: str | None = None,
        /,
        *,
        fields: Sequence[FieldT] | None = None,
        filter: Sequence[CondT] | None = None,
        or_: Sequence[CondT] | None = None,
        where: Mapping[str, object] | None = None,
        search: Mapping[str, JsonValue] | None = None,
        sort: Sequence[SortT | tuple[SortT, SortOrder]] | None = None,
        join: Sequence[JoinT] | None = None,
        limit: int | None = None,
        page: None = None,
        offset: int,
        include_deleted: bool = False,
    ) -> Page[RowT]: ...
    @overload
    def list(
        self,
        tenant_id: str | None = None,
        /,
        *,
        fields: Sequence[FieldT] | None = None,
        filter: Sequence[CondT] | None = None,
        or_: Sequence[CondT] | None = None,
        where: Mapping[str, object] | None = None,
        search: Mapping[str, JsonValue] | None = None,
        sort: Sequence[SortT | tuple[SortT, SortOrder]] | None = None,
        join: Sequence[JoinT] | None = None,
        limit: int | None = None,
        page: None = None,
        offset: None = None,
        include_deleted: bool = False,
    ) -> ListT: ...
    def list(
        self,
        tenant_id: str | None = None,
        /,
        *,
        fields: Sequence[FieldT] | None = None,
        filter: Sequence[CondT] | None = None,
        or_: Sequence[CondT] | None = None,
        where: Mapping[str, object] | None = None,
        search: Mapping[str, JsonValue] | None = None,
        sort: Sequence[SortT | tuple[SortT, SortOrder]] | None = None,
        join: Sequence[JoinT] | None = None,
        limit: int | None = None,
        page: int | None = None,
        offset: int | None = None,
        include_deleted: bool = False,
    ) -> Page[RowT] | ListT:
        """Rows matching the query; the paginated envelope with ``page`` or ``offset``.

        ``tenant_id`` is the seed's ``list(org_id)``: equality on the entity's tenant column.
        """
        params = list_params(
            self._tenant(tenant_id),
            fields=fields,
            filter=cast(Sequence[Sequence[object]] | None, filter),
            or_=cast(Sequence[Sequence[object]] | None, or_),
            where=where,
            search=search,
            sort=sort,
            join=join,
            limit=limit,
            page=page,
            offset=offset,
            include_deleted=include_deleted,
        )
        return cast(Page[RowT] | ListT, self._http.request("GET", self._path(), params))

    def get(
        self, row_id: str | int, *, fields: Sequence[FieldT] | None = None, join: Sequence[JoinT] | None = None
    ) -> RowT:
        """One row by id (``NotFoundError`` when it does not exist or is another organization's)."""
        return cast(RowT, self._http.request("GET", self._path(row_id), read_params(fields, join)))

    def create(self, body: CreateT, *, idempotency_key: str | Literal[False] | None = None) -> RowT:
        """Create a row; the answer is the row as stored."""
        answer = self._http.request("POST", self._path(), [], body, write=True, idempotency_key=idempotency_key)
        return cast(RowT, answer)

    def create_many(
        self, bodies: Sequence[CreateT], *, idempotency_key: str | Literal[False] | None = None
    ) -> builtins.list[RowT]:
        """Create several rows at once (``/bulk``): all of them or none."""
        answer = self._http.request(
            "POST",
            self._path(None, "/bulk"),
            [],
            {"bulk": builtins.list(bodies)},
            write=True,
            idempotency_key=idempotency_key,
        )
        return cast(builtins.list[RowT], answer)

    def update(self, row_id: str | int, body: UpdateT, *, idempotency_key: str | Literal[False] | None = None) -> RowT:
        """Change the fields given (PATCH)."""
        answer = self._http.request("PATCH", self._path(row_id), [], body, write=True, idempotency_key=idempotency_key)
        return cast(RowT, answer)

    def replace(self, row_id: str | int, body: UpdateT, *, idempotency_key: str | Literal[False] | None = None) -> RowT:
        """PUT, as the seed's client calls update: the fields given are changed."""
        answer = self._http.request("PUT", self._path(row_id), [], body, write=True, idempotency_key=idempotency_key)
        return cast(RowT, answer)

    def delete(self, row_id: str | int, *, idempotency_key: str | Literal[False] | None = None) -> None:
        """Delete a row (``ReferencedByError`` while other rows point at it)."""
        self._http.request("DELETE", self._path(row_id), [], write=True, idempotency_key=idempotency_key)

    def recover(self, row_id: str | int, *, idempotency_key: str | Literal[False] | None = None) -> RowT:
        """Restore a soft-deleted row."""
        answer = self._http.request(
            "PATCH", self._path(row_id, "/recover"), [], write=True, idempotency_key=idempotency_key
        )
        return cast(RowT, answer)


class AsyncResource(_Base[RowT, CreateT, UpdateT, CondT, SortT, FieldT, JoinT, ListT]):
    """The operations on one entity's rows (``/api/<route>``), awaited."""

    def __init__(self, http: AsyncHttp, route: str, tenant_field: str | None) -> None:
        super().__init__(route, tenant_field)
        self._http = http

    @overload
    async def list(
        self,
        tenant_id: str | None = None,
        /,
        *,
        fields: Sequence[FieldT] | None = None,
        filter: Sequence[CondT] | None = None,
        or_: Sequence[CondT] | None = None,
        where: Mapping[str, object] | None = None,
        search: Mapping[str, JsonValue] | None = None,
        sort: Sequence[SortT | tuple[SortT, SortOrder]] | None = None,
        join: Sequence[JoinT] | None = None,
        limit: int | None = None,
        page: int,
        offset: int | None = None,
        include_deleted: bool = False,
    ) -> Page[RowT]: ...
    @overload
    async def list(
        self,
        tenant_id: str | None = None,
        /,
        *,
        fields: Sequence[FieldT] | None = None,
        filter: Sequence[CondT] | None = None,
        or_: Sequence[CondT] | None = None,
        where: Mapping[str, object] | None = None,
        search: Mapping[str, JsonValue] | None = None,
        sort: Sequence[SortT | tuple[SortT, SortOrder]] | None = None,
        join: Sequence[JoinT] | None = None,
        limit: int | None = None,
        page: None = None,
        offset: int,
        include_deleted: bool = False,
    ) -> Page[RowT]: ...
    @overload
    async def list(
        self,
        tenant_id: str | None = None,
        /,
        *,
        fields: Sequence[FieldT] | None = None,
        filter: Sequence[CondT] | None = None,
        or_: Sequence[CondT] | None = None,
        where: Mapping[str, object] | None = None,
        search: Mapping[str, JsonValue] | None = None,
        sort: Sequence[SortT | tuple[SortT, SortOrder]] | None = None,
        join: Sequence[JoinT] | None = None,
        limit: int | None = None,
        page: None = None,
        offset: None = None,
        include_deleted: bool = False,
    ) -> ListT: ...
    async def list(
        self,
        tenant_id: str | None = None,
        /,
        *,
        fields: Sequence[FieldT] | None = None,
        filter: Sequence[CondT] | None = None,
        or_: Sequence[CondT] | None = None,
        where: Mapping[str, object] | None = None,
        search: Mapping[str, JsonValue] | None = None,
        sort: Sequence[SortT | tuple[SortT, SortOrder]] | None = None,
        join: Sequence[JoinT] | None = None,
        limit: int | None = None,
        page: int | None = None,
        offset: int | None = None,
        include_deleted: bool = False,
    ) -> Page[RowT] | ListT:
        """Rows matching the query; the paginated envelope with ``page`` or ``offset``."""
        params = list_params(
            self._tenant(tenant_id),
            fields=fields,
            filter=cast(Sequence[Sequence[object]] | None, filter),
            or_=cast(Sequence[Sequence[object]] | None, or_),
            where=where,
            search=search,
            sort=sort,
            join=join,
            limit=limit,
            page=page,
            offset=offset,
            include_deleted=include_deleted,
        )
        return cast(Page[RowT] | ListT, await self._http.request("GET", self._path(), params))

    async def get(
        self, row_id: str | int, *, fields: Sequence[FieldT] | None = None, join: Sequence[JoinT] | None = None
    ) -> RowT:
        """One row by id."""
        return cast(RowT, await self._http.request("GET", self._path(row_id), read_params(fields, join)))

    async def create(self, body: CreateT, *, idempotency_key: str | Literal[False] | None = None) -> RowT:
        """Create a row."""
        answer = await self._http.request("POST", self._path(), [], body, write=True, idempotency_key=idempotency_key)
        return cast(RowT, answer)

    async def create_many(
        self, bodies: Sequence[CreateT], *, idempotency_key: str | Literal[False] | None = None
    ) -> builtins.list[RowT]:
        """Create several rows at once: all of them or none."""
        answer = await self._http.request(
            "POST",
            self._path(None, "/bulk"),
            [],
            {"bulk": builtins.list(bodies)},
            write=True,
            idempotency_key=idempotency_key,
        )
        return cast(builtins.list[RowT], answer)

    async def update(
        self, row_id: str | int, body: UpdateT, *, idempotency_key: str | Literal[False] | None = None
    ) -> RowT:
        """Change the fields given (PATCH)."""
        answer = await self._http.request(
            "PATCH", self._path(row_id), [], body, write=True, idempotency_key=idempotency_key
        )
        return cast(RowT, answer)

    async def replace(
        self, row_id: str | int, body: UpdateT, *, idempotency_key: str | Literal[False] | None = None
    ) -> RowT:
        """PUT: the fields given are changed."""
        answer = await self._http.request(
            "PUT", self._path(row_id), [], body, write=True, idempotency_key=idempotency_key
        )
        return cast(RowT, answer)

    async def delete(self, row_id: str | int, *, idempotency_key: str | Literal[False] | None = None) -> None:
        """Delete a row."""
        await self._http.request("DELETE", self._path(row_id), [], write=True, idempotency_key=idempotency_key)

    async def recover(self, row_id: str | int, *, idempotency_key: str | Literal[False] | None = None) -> RowT:
        """Restore a soft-deleted row."""
        answer = await self._http.request(
            "PATCH", self._path(row_id, "/recover"), [], write=True, idempotency_key=idempotency_key
        )
        return cast(RowT, answer)


__all__ = [
    "ApiError",
    "AsyncHttp",
    "AsyncResource",
    "BadRequestError",
    "BetweenOp",
    "CiListOp",
    "CompareOp",
    "ConflictError",
    "EqualityOp",
    "FieldProblem",
    "ForbiddenError",
    "JsonValue",
    "LikeOp",
    "ListOp",
    "NetworkError",
    "NotFoundError",
    "NullOp",
    "Page",
    "RateLimitedError",
    "ReferencedByError",
    "Secret",
    "SortOrder",
    "SyncHttp",
    "SyncResource",
    "UnauthorizedError",
    "UnavailableError",
    "UniqueViolationError",
    "ValidationFailedError",
    "error_for",
]
