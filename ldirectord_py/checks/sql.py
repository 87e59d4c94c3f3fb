"""mysql and pgsql: log in and run `request` as a query.

What is done (the original's DBI check): connect to the real's check port as
`login` with `passwd` to database `database` (empty: the server's default),
run `request` without its leading `/`, and look at the first row.
mysql uses aiomysql (an unbuffered cursor: at most one row is read), pgsql uses
asyncpg (`fetchrow`: the server is asked for one row). Both are asyncio-native.

Up: at least one row comes back, within negotiatetimeout. `login` and `request`
are required (as in the original; without them the check is down). Difference:
the original had no timeout at all here (quirk 16, fixed).
"""

from __future__ import annotations

import contextlib
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from ldirectord_py.checks.deadline import backstop
from ldirectord_py.checks.descriptor import CheckDescriptor, negotiatetimeout
from ldirectord_py.checks.result import CheckFailed, FailureKind

if TYPE_CHECKING:
    from ldirectord_py.checks.runtime import CheckRuntime
    from ldirectord_py.checks.spec import CheckSpec


def query_of(spec: CheckSpec) -> str:
    return spec.request[1:] if spec.request.startswith("/") else spec.request


async def _mysql(spec: CheckSpec, query: str) -> bool:
    import aiomysql
    import pymysql

    try:
        conn: Any = await aiomysql.connect(
            host=spec.address,
            port=spec.checkport or 3306,
            user=spec.login,
            password=spec.passwd,
            db=spec.database or None,
            connect_timeout=backstop(spec.negotiatetimeout),
            autocommit=True,
        )
    except pymysql.err.MySQLError as e:
        raise CheckFailed(_mysql_reason(e), _mysql_kind(e)) from e
    try:
        cursor = await conn.cursor(aiomysql.SSCursor)
        try:
            await cursor.execute(query)
            row = await cursor.fetchone()
        except pymysql.err.MySQLError as e:
            raise CheckFailed(_mysql_reason(e), FailureKind.OTHER) from e
        return row is not None
    finally:
        conn.close()


# ER_DBACCESS_DENIED_ERROR, ER_ACCESS_DENIED_ERROR
_MYSQL_LOGIN_ERRORS = frozenset({1044, 1045})
# CR_SERVER_GONE_ERROR, CR_SERVER_LOST
_MYSQL_CLOSED_ERRORS = frozenset({2006, 2013})


def _mysql_kind(e: Exception) -> FailureKind:
    args: tuple[object, ...] = tuple(getattr(e, "args", ()))
    if args and args[0] in _MYSQL_LOGIN_ERRORS:
        return FailureKind.LOGIN
    if args and args[0] in _MYSQL_CLOSED_ERRORS:
        return FailureKind.CLOSED
    return _cause_kind(e)


def _cause_kind(e: BaseException) -> FailureKind:
    """REFUSED when the driver wraps a refused connect (aiomysql's error 2003)."""
    seen: BaseException | None = e
    for _ in range(8):
        if seen is None:
            break
        if isinstance(seen, ConnectionRefusedError):
            return FailureKind.REFUSED
        seen = seen.__cause__ or seen.__context__
    return FailureKind.OTHER


def _mysql_reason(e: Exception) -> str:
    args: tuple[object, ...] = tuple(getattr(e, "args", ()))
    if len(args) >= 2:
        return f"mysql error {args[0]}: {str(args[1])[:120]}"
    return f"mysql error: {str(e)[:120]}"


async def _pgsql(spec: CheckSpec, query: str) -> bool:
    import asyncpg

    try:
        conn: Any = await asyncpg.connect(
            host=spec.address,
            port=spec.checkport or 5432,
            user=spec.login,
            password=spec.passwd,
            database=spec.database or None,
            timeout=backstop(spec.negotiatetimeout),
            statement_cache_size=0,
        )
    except (asyncpg.PostgresError, asyncpg.InterfaceError) as e:
        login = isinstance(
            e, asyncpg.InvalidPasswordError | asyncpg.InvalidAuthorizationSpecificationError
        )
        kind = FailureKind.LOGIN if login else _cause_kind(e)
        raise CheckFailed(f"pgsql error: {str(e)[:120]}", kind) from e
    try:
        try:
            row = await conn.fetchrow(query)
        except (asyncpg.PostgresError, asyncpg.InterfaceError) as e:
            raise CheckFailed(f"pgsql error: {str(e)[:120]}", FailureKind.OTHER) from e
        return row is not None
    finally:
        with contextlib.suppress(Exception):
            conn.terminate()


async def check(spec: CheckSpec, runtime: CheckRuntime) -> str:
    query = query_of(spec)
    if not spec.login or not query:
        raise CheckFailed("login and request are required", FailureKind.OTHER)
    if spec.service == "mysql":
        found = await _mysql(spec, query)
    else:
        found = await _pgsql(spec, query)
    if not found:
        raise CheckFailed("query returned no rows", FailureKind.RECEIVE_MISMATCH)
    return "query returned rows"


DESCRIPTOR: CheckDescriptor = CheckDescriptor(
    name="sql",
    check=check,
    deadline=negotiatetimeout,
    fd_cost=1,
    slotted=False,
    services=("mysql", "pgsql"),
    default_ports=MappingProxyType({"mysql": 3306, "pgsql": 5432}),
    extras=MappingProxyType({"mysql": ("sql", "aiomysql"), "pgsql": ("sql", "asyncpg")}),
)
