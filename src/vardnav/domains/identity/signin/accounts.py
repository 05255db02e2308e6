"""Sign-in accounts with argon2id password hashes.

Staff sign in with their HSA-id, residents with their personnummer (12 digits). `authenticate`
spends the same work whether or not the account exists (a dummy hash is verified for unknown
names), so its timing does not tell which usernames are real.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Connection, insert, select, update

from vardnav.domains.identity.models import user_account
from vardnav.domains.identity.swedish_identifiers import (
    PERSONNUMMER,
    canonical_number,
    number_problem,
)
from vardnav.errors import BadRequest, Conflict

KINDS = ("staff", "resident")
MIN_PASSWORD_LENGTH = 8
# SE + organisation number (10) + "-" + the unit's own part (HSA-id format).
_HSA_ID = re.compile(r"^SE[0-9]{10}-[0-9A-Za-z]{1,31}$")
_hasher = PasswordHasher()  # argon2id with the library's (RFC 9106 low-memory) parameters


@dataclass(frozen=True)
class Account:
    username: str
    kind: str
    password_hash: str
    disabled: bool
    created: float


def normalise_username(raw: str) -> str:
    """The stored form: a personnummer without its hyphen, an HSA-id upper-cased."""
    text = raw.strip()
    digits = canonical_number(text)
    return digits if digits else text.upper()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    return _hasher.hash("no account has this password")


def check_username(username: str, kind: str) -> None:
    if kind not in KINDS:
        raise BadRequest(f"Kind must be one of {', '.join(KINDS)}")
    if kind == "staff" and not _HSA_ID.match(username):
        raise BadRequest(f"{username} is not an HSA-id (SE + 10 digits + '-' + 1-31 "
                         "letters or digits)")
    if kind == "resident":
        problem = number_problem(username, PERSONNUMMER)
        if problem:
            raise BadRequest(problem)


def create_account(conn: Connection, *, username: str, kind: str, password: str | None = None,
                   password_hash: str | None = None) -> Account:
    """Create an account from a password (hashed here) or a ready argon2 hash."""
    username = normalise_username(username)
    check_username(username, kind)
    if password_hash is None:
        if password is None or len(password) < MIN_PASSWORD_LENGTH:
            raise BadRequest(f"A password has at least {MIN_PASSWORD_LENGTH} characters")
        password_hash = hash_password(password)
    if get_account(conn, username) is not None:
        raise Conflict(f"An account named {username} already exists")
    account = Account(username, kind, password_hash, False, time.time())
    conn.execute(insert(user_account).values(
        username=username, kind=kind, password_hash=password_hash, disabled=False,
        created=account.created))
    return account


def get_account(conn: Connection, username: str) -> Account | None:
    row = conn.execute(select(user_account)
                       .where(user_account.c.username == username)).first()
    return Account(row.username, row.kind, row.password_hash, bool(row.disabled),
                   row.created) if row else None


def list_accounts(conn: Connection) -> list[Account]:
    rows = conn.execute(select(user_account).order_by(user_account.c.kind,
                                                      user_account.c.username))
    return [Account(r.username, r.kind, r.password_hash, bool(r.disabled), r.created)
            for r in rows]


def set_disabled(conn: Connection, username: str, disabled: bool) -> bool:
    done = conn.execute(update(user_account).where(user_account.c.username == username)
                        .values(disabled=disabled))
    return done.rowcount == 1


def password_matches(account: Account | None, password: str) -> bool:
    """Verify against the account's hash, or a dummy one so the work is the same."""
    try:
        ok = _hasher.verify(account.password_hash if account else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and account is not None


def needs_rehash(account: Account) -> bool:
    return _hasher.check_needs_rehash(account.password_hash)


def store_hash(conn: Connection, username: str, password_hash: str) -> None:
    conn.execute(update(user_account).where(user_account.c.username == username)
                 .values(password_hash=password_hash))
