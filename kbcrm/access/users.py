"""Users (argon2-hashed passwords) and revocable API tokens (only their SHA-256 hash is stored)."""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from nacl import pwhash
from nacl.exceptions import CryptoError

from kbcrm.access.models import Principal, Role
from kbcrm.graph import GraphStore, cypher
from kbcrm.graph.store import utc_now
from ontology.terms import Label, Rel

# argon2id with OWASP's fifth recommended setting (7 MiB, 5 passes, 1 lane; the five are meant to
# be equally strong): 15 ms per check here with argon2-cffi, against 20 ms for the first (19 MiB,
# 2 passes), 50 ms for the 46 MiB one and 120 ms for argon2-cffi's default (64 MiB, 3 passes,
# 4 lanes), which made logins dominate the portal load benchmark. Two checks at once on 7 MiB
# still fit the 32 MiB shared cache; on 19 MiB they did not (26-30 ms each under load). Older
# hashes are re-hashed at the next login.
_HASHER = PasswordHasher(time_cost=5, memory_cost=7168, parallelism=1)
# The same argon2id computed by libsodium (PyNaCl), which picks its AVX-512F, AVX2 or SSSE3 code
# when it loads: 9.4 ms per check here against 15.1 ms for argon2-cffi's bundled build, for the
# same standard hash strings (README, Authentication). argon2-cffi reads a hash's parameters
# (check_needs_rehash) and verifies the argon2i and argon2d hashes libsodium does not.
_OPS, _MEMORY = _HASHER.time_cost, _HASHER.memory_cost * 1024
_ARGON2ID = "$argon2id$"


def _hash(password: str) -> str:
    return pwhash.argon2id.str(password.encode(), opslimit=_OPS, memlimit=_MEMORY).decode("ascii")


def _verify(stored: str, password: str) -> None:
    """Raises VerificationError (or InvalidHashError) when the password does not match the hash."""
    if not stored.startswith(_ARGON2ID):
        _HASHER.verify(stored, password)
        return
    try:
        pwhash.argon2id.verify(stored.encode("ascii"), password.encode())
    except (CryptoError, UnicodeEncodeError) as e:  # a wrong password, or a hash libsodium cannot read
        raise VerificationError(str(e)) from e


TOKEN_PREFIX = "kbt_"
log = logging.getLogger("kbcrm.access")


class _Hashing:
    """argon2 in this process: at most `checks` computations at once, on threads of lower CPU priority.

    Each one takes a core for about 10 ms and releases the GIL, so running more at once than
    there are cores only shares them out: fifty logins at once took about fifty times as long
    each and starved every other thread of the server (bench/portal_load.py). The server sets
    the limit from KBCRM_PASSWORD_CHECKS; the default is the machine's cores.

    The checks run on threads of their own, with a nice value of `nice` (KBCRM_PASSWORD_CHECK_NICE
    in the server; Linux only, where a thread has its own): on a busy machine the event loops
    serving searches and reads get the cores first, and a burst or a flood of logins delays
    logins rather than every other request (bench/portal_load.py, README: Authentication).
    """

    def __init__(self) -> None:
        self.pool: ThreadPoolExecutor | None = None
        self.limit(os.cpu_count() or 1)

    def limit(self, checks: int, *, nice: int = 0) -> None:
        """At most `checks` at once from now on, at `nice` (computations already running finish as they are)."""
        old, self.checks, self.nice = self.pool, checks, nice
        self.pool = ThreadPoolExecutor(
            checks, thread_name_prefix="kbcrm-password", initializer=_lower_priority, initargs=(nice,)
        )
        if old is not None:
            old.shutdown(wait=False)

    def _run[T](self, work: Callable[..., T], *args: str) -> T:
        assert self.pool is not None
        return self.pool.submit(work, *args).result()

    def hash(self, password: str) -> str:
        return self._run(_hash, password)

    def verify(self, stored: str, password: str) -> None:
        """Raises VerificationError (or InvalidHashError) when the password does not match."""
        self._run(_verify, stored, password)


def _lower_priority(nice: int) -> None:
    """Give the calling thread `nice` more niceness than the process (Linux: a thread's own; elsewhere nothing)."""
    if not nice or sys.platform != "linux":  # elsewhere setpriority(PRIO_PROCESS, …) would change the process
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + nice)
    except OSError:
        log.warning("could not lower the password checks' CPU priority", exc_info=True)


HASHING = _Hashing()
# A real hash to verify against when the user does not exist, so a wrong user name costs as
# much time as a wrong password (no user-enumeration by timing).
_DUMMY_HASH = _hash("not-a-password")

USER = cypher(
    "access.user",
    "MATCH (u:User {id: $id}) OPTIONAL MATCH (u)-[:ACTS_FOR]->(c:Customer) "
    "OPTIONAL MATCH (u)-[:ACTS_FOR]->(e:Employee) "
    "RETURN u.id AS id, u.name AS name, u.role AS role, u.status AS status, u.password_hash AS password_hash, "
    "u.session_version AS session_version, c.id AS customer_id, e.id AS employee_id",
    example={"id": "user:admin"},
)
USERS = cypher(
    "access.users",
    "MATCH (u:User) OPTIONAL MATCH (u)-[:ACTS_FOR]->(c:Customer) "
    "RETURN u.id AS id, u.name AS name, u.role AS role, u.status AS status, c.id AS customer_id ORDER BY u.id",
    ordered=True,
)
BUMP_SESSION = cypher(
    "access.bump_session",
    "MATCH (u:User {id: $id}) SET u.session_version = coalesce(u.session_version, 0) + 1 "
    "RETURN u.session_version AS session_version",
    example={"id": "user:none"},
)
TOKEN = cypher(
    "access.token",
    "MATCH (u:User)-[:HAS_TOKEN]->(t:ApiToken {token_hash: $hash}) WHERE t.revoked_at IS NULL "
    "RETURN u.id AS user_id, t.id AS token_id",
    example={"hash": "x"},
)
TOKENS = cypher(
    "access.tokens",
    "MATCH (u:User {id: $user})-[:HAS_TOKEN]->(t:ApiToken) "
    "RETURN t.id AS id, t.name AS name, t.created_at AS created_at, t.last_used_at AS last_used_at, "
    "t.revoked_at AS revoked_at ORDER BY t.created_at, t.id",
    example={"user": "user:admin"},
    ordered=True,
)
REVOKE_TOKEN = cypher(
    "access.revoke_token",
    "MATCH (u:User {id: $user})-[:HAS_TOKEN]->(t:ApiToken {id: $id}) WHERE t.revoked_at IS NULL "
    "SET t.revoked_at = $now RETURN t.id AS id",
    example={"user": "user:none", "id": "token:none", "now": "2026-01-01T00:00:00+00:00"},
)


class UserError(ValueError):
    """A user or token request that cannot be served (unknown role, unknown customer…)."""


@dataclass(frozen=True)
class NewToken:
    """A freshly created API token: `secret` is shown once and never stored."""

    id: str
    name: str
    secret: str


# A new login name is reserved by one MERGE (the id is unique), so two people who pick the same
# name at the same moment cannot both get it: one statement wins, the other sees someone else's claim.
RESERVE = cypher(
    "access.reserve_user",
    "MERGE (u:User {id: $id}) ON CREATE SET u.reserved_by = $claim, u.status = 'disabled', u.role = 'customer', "
    "u.name = $id, u.created_at = $now "
    # A reservation left by a process that died before creating the login (no password yet) expires.
    "WITH u, (u.reserved_by IS NOT NULL AND u.password_hash IS NULL AND u.created_at < $stale_before) AS stale "
    "SET u.reserved_by = CASE WHEN stale THEN $claim ELSE u.reserved_by END, "
    "u.created_at = CASE WHEN stale THEN $now ELSE u.created_at END "
    "RETURN u.reserved_by AS reserved_by",
    example={
        "id": "user:nobody-reserved",
        "claim": "x",
        "now": "2026-01-01T00:00:00+00:00",
        "stale_before": "2025-12-31T23:50:00+00:00",
    },
)
RESERVATION_LIFETIME = timedelta(minutes=10)  # far longer than an accept takes (one argon2 hash, a few writes)
UNRESERVE = cypher(
    "access.unreserve_user",
    "MATCH (u:User {id: $id}) WHERE u.reserved_by = $claim DETACH DELETE u",
    example={"id": "user:nobody-reserved", "claim": "x"},
)
CONFIRM_RESERVED = cypher(
    "access.confirm_reserved_user",
    "MATCH (u:User {id: $id}) WHERE u.reserved_by = $claim SET u.reserved_by = null",
    example={"id": "user:nobody-reserved", "claim": "x"},
)


def reserve_username(store: GraphStore, username: str) -> str | None:
    """Claim a new login name; the claim to pass on, or None if the name exists or another claim won.

    A reservation older than `RESERVATION_LIFETIME` whose login was never created (its process
    died between reserving and creating) is taken over, so the name is not lost for good.
    """
    claim, now = secrets.token_hex(16), datetime.now(UTC)
    rows = store.run(
        RESERVE,
        id=user_id(username),
        claim=claim,
        now=now.isoformat(timespec="seconds"),
        stale_before=(now - RESERVATION_LIFETIME).isoformat(timespec="seconds"),
    )
    return claim if rows and rows[0]["reserved_by"] == claim else None


def release_username(store: GraphStore, username: str, claim: str) -> None:
    """Give a reserved name back (the login was not created)."""
    store.run(UNRESERVE, id=user_id(username), claim=claim)


def confirm_username(store: GraphStore, username: str, claim: str) -> None:
    """The login under a reserved name is created: drop the reservation mark."""
    store.run(CONFIRM_RESERVED, id=user_id(username), claim=claim)


def user_id(username: str) -> str:
    """The graph id of a login name."""
    return f"user:{username}"


def _principal(row: dict[str, Any]) -> Principal:
    return Principal(
        user_id=row["id"],
        name=row["name"] or row["id"],
        role=Role(row["role"]),
        customer_id=row["customer_id"],
        employee_id=row.get("employee_id"),
        session_version=int(row["session_version"] or 0),
    )


def check_credentials(username: str, password: str) -> None:
    """Raise UserError unless the user name and password are acceptable for a new login."""
    if not username or not username.replace("-", "").replace("_", "").replace(".", "").isalnum():
        raise UserError(f"user name {username!r}: use letters, digits, '-', '_' or '.'")
    if len(username) > 100:
        raise UserError("user name: at most 100 characters")
    if len(password) < 8:
        raise UserError("password: at least 8 characters")


def create_user(
    store: GraphStore,
    *,
    username: str,
    password: str,
    role: Role | str,
    name: str | None = None,
    customer_id: str | None = None,
    employee_id: str | None = None,
) -> Principal:
    """Create or update a login (idempotent by user name); customers must name their Customer node."""
    role = Role(role)
    check_credentials(username, password)
    if (role == Role.customer) != (customer_id is not None):
        raise UserError("a customer login needs --customer, and only a customer login may have one")
    if customer_id is not None and store.get_node(Label.Customer, customer_id) is None:
        raise UserError(f"customer {customer_id!r} not found")
    uid = user_id(username)
    existing = store.read(USER, id=uid)
    store.upsert_nodes(
        Label.User,
        [
            {
                "id": uid,
                "name": name or username,
                "role": role.value,
                "status": "active",
                "password_hash": HASHING.hash(password),
                "session_version": int(existing[0]["session_version"] or 0) if existing else 0,
                "created_at": utc_now(),
            }
        ],
    )
    if customer_id is not None:
        store.upsert_relationships(
            Rel.ACTS_FOR, [{"start": uid, "end": customer_id}], start_label=Label.User, end_label=Label.Customer
        )
    if employee_id is not None:
        if store.get_node(Label.Employee, employee_id) is None:
            raise UserError(f"employee {employee_id!r} not found")
        store.upsert_relationships(
            Rel.ACTS_FOR, [{"start": uid, "end": employee_id}], start_label=Label.User, end_label=Label.Employee
        )
    user = get_user(store, uid)
    assert user is not None
    return user


def get_user(store: GraphStore, uid: str) -> Principal | None:
    """An active user by id, or None."""
    rows = store.read(USER, id=uid)
    if not rows or rows[0]["status"] != "active":
        return None
    return _principal(rows[0])


def list_users(store: GraphStore) -> list[dict[str, Any]]:
    """Every login (without password hashes)."""
    return store.read(USERS)


def authenticate(store: GraphStore, *, username: str, password: str) -> Principal | None:
    """The user when the password is right, else None (same cost whether or not the user exists)."""
    rows = store.read(USER, id=user_id(username))
    stored = rows[0]["password_hash"] if rows and rows[0]["status"] == "active" else None
    try:
        HASHING.verify(stored or _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if stored is None:
        return None
    if _HASHER.check_needs_rehash(stored):
        store.upsert_nodes(Label.User, [{"id": rows[0]["id"], "password_hash": HASHING.hash(password)}])
    return _principal(rows[0])


def end_sessions(store: GraphStore, uid: str) -> int:
    """Invalidate every session cookie of the user (logout); returns the new session version."""
    rows = store.read(USER, id=uid) and store.run(BUMP_SESSION, id=uid)
    return int(rows[0]["session_version"]) if rows else 0


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_token(store: GraphStore, uid: str, *, name: str) -> NewToken:
    """A new bearer token for the user; its secret is returned once and only its hash is kept."""
    if get_user(store, uid) is None:
        raise UserError(f"user {uid!r} not found")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token_id = "token:" + secrets.token_hex(6)
    store.upsert_nodes(
        Label.ApiToken, [{"id": token_id, "name": name, "token_hash": _token_hash(secret), "created_at": utc_now()}]
    )
    store.upsert_relationships(
        Rel.HAS_TOKEN, [{"start": uid, "end": token_id}], start_label=Label.User, end_label=Label.ApiToken
    )
    return NewToken(id=token_id, name=name, secret=secret)


def principal_for_token(store: GraphStore, secret: str) -> Principal | None:
    """The active user a bearer token belongs to, or None when it is unknown or revoked."""
    if not secret.startswith(TOKEN_PREFIX):
        return None
    rows = store.read(TOKEN, hash=_token_hash(secret))
    return get_user(store, rows[0]["user_id"]) if rows else None


def list_tokens(store: GraphStore, uid: str) -> list[dict[str, Any]]:
    """The user's tokens (never their secrets)."""
    return store.read(TOKENS, user=uid)


def revoke_token(store: GraphStore, uid: str, token_id: str) -> bool:
    """Revoke one of the user's tokens; False when it is not theirs or already revoked."""
    return bool(store.run(REVOKE_TOKEN, user=uid, id=token_id, now=utc_now()))
