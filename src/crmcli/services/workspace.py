"""Opening the database as the acting user: one unit of work per command."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from crmcli import clock
from crmcli.context import AppContext
from crmcli.errors import BadInput, Conflict, CrmError, NotPermitted, StorageError
from crmcli.roles import WRITE, article, command_path, needed_role, role_allows
from crmcli.rules.policy import Policy, PolicyInvalid, parse_policy
from crmcli.store.engine import database_url, ensure_schema, make_engine, storage_errors
from crmcli.store.models import User

if TYPE_CHECKING:
    from crmcli.rules.calendar import BusinessCalendar
    from crmcli.store.models import AuditEvent

T = TypeVar("T")
# a write the database refused because of a concurrent one (PostgreSQL: a serialisation
# failure or deadlock; nothing was written) is run again, this many times in all
CONFLICT_ATTEMPTS = 5


def conflict_pause(attempt: int) -> float:
    """Seconds to wait after failed attempt `attempt`: jittered and doubling, so two writers
    that collided do not collide again in step."""
    return random.uniform(0, 0.05 * 2**attempt)


@dataclass(eq=False)
class Tx:
    """What a service function needs inside one transaction."""

    session: Session
    actor: User
    now: datetime
    command: str
    load_policy: Callable[[], Policy] = field(repr=False)
    load_stored_policy: Callable[[], Policy] = field(repr=False)
    # the login behind the actor: the OS login on SQLite, the database login on PostgreSQL
    login: str | None = None
    # the sha256 of the --policy file an admin writes under instead of the stored policy
    policy_sha256: str | None = None

    @cached_property
    def policy(self) -> Policy:
        """Loaded on first use: a role check needs no policy (nor a readable one)."""
        return self.load_policy()

    @cached_property
    def stored_policy(self) -> Policy:
        """The policy installed in the database, whatever --policy says: what the outbox
        sends through ([smtp]) never comes from a file."""
        return self.load_stored_policy()

    @cached_property
    def calendar(self) -> BusinessCalendar:
        from crmcli.rules.calendar import BusinessCalendar

        return BusinessCalendar.from_policy(self.policy)

    def audit(
        self, record_type: str, record_id: int | None, action: str, changes: dict[str, Any]
    ) -> AuditEvent:
        from crmcli.services import audit  # writes only: reads skip the audit tables

        return audit.append(
            self.session,
            at=self.now,
            actor=self.actor.name,
            command=self.command,
            record_type=record_type,
            record_id=record_id,
            action=action,
            changes=changes,
            login=self.login,
            policy=self.policy_sha256,
        )


@dataclass(frozen=True)
class Identity:
    """Who a command acts as: the crm user (None when there is none to act as), the login
    behind it, and why there is no user."""

    name: str
    login: str
    user: User | None
    # no user of the database is bound to a login yet: --as and CRM_USER are taken on trust
    unchecked: bool = False
    missing: str = ""


def resolve_identity(
    session: Session, requested: str, *, stored_policy: Callable[[], Policy]
) -> Identity:
    """The acting user (README: Security model). PostgreSQL: the database login, which
    --as cannot override. SQLite: the user bound to the OS login (or, unbound, named like
    it); --as / CRM_USER names another user only when that one is an admin, the stored
    policy says `[identity] allow_as = true`, or nobody is bound yet (old databases)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy import text

        # the login that connected, whatever role it acts as (a migration or restore SETs ROLE)
        login = session.exec(text("SELECT session_user")).scalar_one()  # type: ignore[call-overload]
        user = _user_named(session, login)
        return Identity(login, login, user, missing=_unknown(login, login))
    from crmcli import context

    login = context.os_login()
    bound = _bound_user(session, login)
    unchecked = (bound is None or bound.login is None) and not anyone_bound(session)
    if not requested or (bound is not None and requested == bound.name):
        if bound is not None:
            return Identity(bound.name, login, bound, unchecked, _unknown(bound.name, login))
        return Identity(
            requested or login,
            login,
            None,
            unchecked,
            f"no crm user is bound to your login {login!r}; an admin can bind one "
            f"(crm user bind NAME --login {login}) or add one (crm user add NAME --login "
            f"{login})",
        )
    admin = bound is not None and bound.active and bound.role == "admin"
    if not (unchecked or admin or stored_policy().allow_as):
        raise NotPermitted(_as_refused(requested, login, bound))
    user = _user_named(session, requested)
    return Identity(requested, login, user, unchecked, _unknown(requested, login))


def _user_named(session: Session, name: str) -> User | None:
    return session.exec(select(User).where(User.name == name)).first()


def _bound_user(session: Session, login: str) -> User | None:
    """The user bound to `login`; else an unbound user of that name (so users named after
    their logins need no binding, as before bindings existed)."""
    candidates = session.exec(
        select(User).where(
            (User.login == login) | (col(User.login).is_(None) & (User.name == login))
        )
    ).all()
    return next((u for u in candidates if u.login == login), None) or next(iter(candidates), None)


def anyone_bound(session: Session) -> bool:
    """Whether any user is bound to a login (until one is, --as is taken on trust)."""
    return (
        session.exec(select(User.id).where(col(User.login).is_not(None)).limit(1)).first()
        is not None
    )


def _unknown(name: str, login: str) -> str:
    return (
        f"unknown user {name!r} (from --as, CRM_USER or the login {login!r}); an admin can "
        f"add it with: crm user add {name} --role editor"
    )


def _as_refused(requested: str, login: str, bound: User | None) -> str:
    allow = "or an admin can allow it with [identity] allow_as = true in the policy"
    if bound is None:
        return (
            f"--as {requested}: no crm user is bound to your login {login!r}, and only an "
            f"admin's login may act as another user; an admin can bind you (crm user bind "
            f"NAME --login {login}), {allow}"
        )
    return (
        f"--as {requested}: your login {login!r} is bound to {bound.name}, {article(bound.role)}, "
        f"and only an admin's login may act as another user; drop --as (and CRM_USER), "
        f"{allow}"
    )


def same_rules(one: Policy, other: Policy) -> bool:
    """Whether two policies set the same values once merged over the defaults (comments,
    layout and keys written at their default value do not count)."""
    import json

    def canonical(policy: Policy) -> str:
        return json.dumps(policy.data, sort_keys=True, default=str)

    return canonical(one) == canonical(other)


class Workspace:
    def __init__(
        self,
        app: AppContext,
        *,
        warn: Callable[[str], None] | None = None,
        role_of: str | None = None,
    ) -> None:
        self.app = app
        # the command whose role (roles.py) each transaction needs: the one running, or the
        # one an MCP tool mirrors ("lead add")
        self.role_of = command_path(app.command) if role_of is None else role_of
        self.url = database_url(app.db)
        # `policy import` must still run when the stored policy is broken: it is the fix
        self.tolerate_bad_policy = False
        # how a warning reaches the person (commands pass the renderer's); once per command
        self.warn = warn
        self._warned = False

    @cached_property
    def now(self) -> datetime:
        return clock.now()

    @cached_property
    def engine(self) -> Engine:
        engine = make_engine(self.url)
        ensure_schema(engine)
        return engine

    def create(self) -> tuple[str | None, str]:
        """Create or migrate the database; returns the schema (before, after)."""
        engine = make_engine(self.url, create=True)
        before_after = ensure_schema(engine, create=True)
        self.__dict__["engine"] = engine
        return before_after

    @contextmanager
    def reading(self, case: str | None = None) -> Iterator[Tx]:
        """A read transaction as a user with the role the command needs (roles.needed_role;
        `case` names an argument-dependent case of roles.ROLE_CASES)."""
        with self._session(write=False) as session:
            yield self._tx(session, case)

    @contextmanager
    def writing(self, *, bootstrap: bool = False, dry_run: bool = False) -> Iterator[Tx]:
        """A write transaction (BEGIN IMMEDIATE on SQLite); commits only if the block succeeds.
        One attempt: commands write through `write`, which retries a Conflict.

        `dry_run` does all the work, then rolls it back: a plan that is exactly the real run.
        Before committing, the audited rows the transaction wrote are sealed (services.seals).
        """
        with self._session(write=True) as session:
            tx = self._tx(session, WRITE, bootstrap=bootstrap, writes=not dry_run)
            if not dry_run:  # a dry run writes nothing: any policy may be tried
                tx.policy_sha256 = self._policy_override(session, tx.actor)
            yield tx
            with storage_errors():
                if dry_run:
                    session.rollback()
                    return
                from crmcli.services import seals

                seals.record(tx)
                session.commit()

    def read(self, work: Callable[[Tx], T], *, case: str | None = None) -> T:
        """`work(tx)` in a read transaction (`reading`), and its result."""
        with self.reading(case) as tx:
            return work(tx)

    def write(
        self, work: Callable[[Tx], T], *, bootstrap: bool = False, dry_run: bool = False
    ) -> T:
        """`work(tx)` in a write transaction (`writing`), committed once, and its result. When
        the database refuses the transaction because of a concurrent one (Conflict: rolled
        back, nothing written) it runs again in a fresh session after a jittered pause; the
        Conflict is raised only after the last of CONFLICT_ATTEMPTS. So `work` must do nothing
        outside the transaction (print, send mail): it may run more than once."""
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                with self.writing(bootstrap=bootstrap, dry_run=dry_run) as tx:
                    return work(tx)
            except Conflict:
                if attempt == CONFLICT_ATTEMPTS:
                    raise
                time.sleep(conflict_pause(attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def one_connection(self, *, cache_mb: int = 0) -> Iterator[None]:
        """`reading`/`writing` inside share one database connection instead of one each
        (a bulk import's batches: SQLite's page cache stays warm between them; `cache_mb`
        enlarges it for this connection only)."""
        with storage_errors(), self.engine.connect() as conn:
            if cache_mb and conn.dialect.name == "sqlite":
                conn.exec_driver_sql(f"PRAGMA cache_size = -{int(cache_mb) * 1024}")
                conn.commit()
            self.__dict__["_connection"] = conn
            try:
                yield
            finally:
                del self.__dict__["_connection"]

    @contextmanager
    def _session(self, *, write: bool) -> Iterator[Session]:
        shared = self.__dict__.get("_connection")
        bind = (shared if shared is not None else self.engine).execution_options(crm_write=write)
        with storage_errors(), Session(bind, expire_on_commit=False) as session:
            if write:  # every audited row an ORM flush writes is sealed at commit
                from sqlalchemy import event

                from crmcli.services.seals import check_changes, collect

                event.listen(session, "before_flush", check_changes)
                event.listen(session, "after_flush", collect)
            try:
                yield session
            except BaseException:
                session.rollback()
                raise

    def _tx(
        self, session: Session, case: str | None, *, bootstrap: bool = False, writes: bool = False
    ) -> Tx:
        identity = resolve_identity(
            session, self.app.user, stored_policy=lambda: self.stored_policy(session)
        )
        actor = self._actor(session, identity, case, bootstrap=bootstrap)
        if writes and identity.unchecked and actor.id is not None:
            self._warn_unbound(identity.login)
        return Tx(
            session,
            actor,
            self.now,
            self.app.command,
            lambda: self.policy(session),
            lambda: self.stored_policy(session),
            login=identity.login,
        )

    def _actor(
        self, session: Session, identity: Identity, case: str | None, *, bootstrap: bool
    ) -> User:
        user = identity.user
        if user is None and bootstrap and session.exec(select(User.id).limit(1)).first() is None:
            # the very first user of a new database becomes its admin (crm init), bound to
            # the OS login that created it (not on PostgreSQL, where the database login is
            # the user: a binding to it would lock that admin out of a copy on SQLite)
            sqlite = session.get_bind().dialect.name == "sqlite"
            login = identity.login if sqlite else None
            return User(name=identity.name, role="admin", created_at=self.now, login=login)
        if user is None or not user.active:
            raise NotPermitted(identity.missing)
        role = needed_role(self.role_of, case)
        if not role_allows(user.role, role):
            what = self.app.command if case in (None, WRITE) else f"{self.app.command} {case}"
            raise NotPermitted(
                f"{what} needs the {role} role; {user.name} is {article(user.role)} "
                f"(an admin can run: crm user set-role {user.name} {role})"
            )
        return user

    def _warn_unbound(self, login: str) -> None:
        if self.warn is None or self._warned:
            return
        self._warned = True
        self.warn(
            "crm: warning: no user of this database is bound to an OS login, so --as and "
            "CRM_USER are taken on trust; an admin should bind themselves: crm user bind "
            f"NAME --login {login}"
        )

    def policy(self, session: Session) -> Policy:
        """The policy commands work under: the --policy file, else the stored one."""
        if "_policy" not in self.__dict__:
            if self.app.policy_file is not None:
                self.__dict__["_policy"] = self._policy_file()[0]
            else:
                self.__dict__["_policy"] = self.stored_policy(session)
        return self.__dict__["_policy"]

    def _policy_file(self) -> tuple[Policy, str]:
        if "_file_policy" not in self.__dict__:
            self.__dict__["_file_policy"] = load_policy_file(self.app.policy_file)
        return self.__dict__["_file_policy"]

    def _policy_override(self, session: Session, actor: User) -> str | None:
        """The sha256 of the --policy file when a write runs under it instead of the stored
        policy, which only an admin may do; None without a file, or with one that sets
        exactly what the stored policy sets."""
        if self.app.policy_file is None:
            return None
        policy, digest = self._policy_file()
        if "_same_rules" not in self.__dict__:  # once per command (an import has many writes)
            self.__dict__["_same_rules"] = same_rules(policy, self.stored_policy(session))
        if self.__dict__["_same_rules"]:
            return None
        if actor.role != "admin":
            path = self.app.policy_file
            raise NotPermitted(
                f"--policy (or CRM_POLICY): {path} is not the stored policy, and writing under "
                f"another policy needs the admin role ({actor.name} is "
                f"{article(actor.role)}); drop --policy and CRM_POLICY, or use --dry-run where "
                f"the command has it, or ask "
                f"an admin to install it: crm policy import {path}"
            )
        return digest

    def stored_policy(self, session: Session) -> Policy:
        if "_stored_policy" not in self.__dict__:
            self.__dict__["_stored_policy"] = self._load_stored_policy(session)
        return self.__dict__["_stored_policy"]

    def _load_stored_policy(self, session: Session) -> Policy:
        from crmcli.store.models import PolicyVersion

        stored = session.exec(
            select(PolicyVersion).order_by(col(PolicyVersion.id).desc()).limit(1)
        ).first()
        if stored is None:
            from crmcli.rules.policy import default_policy

            return default_policy()
        # validated by `policy import`; checking again would load every holiday calendar
        try:
            return parse_policy(stored.content, source="stored policy", validate=False)
        except PolicyInvalid as exc:
            if self.tolerate_bad_policy:
                from crmcli.rules.policy import default_policy

                return default_policy()
            raise StorageError(
                f"the stored policy is unreadable ({exc}); see crm doctor, then install a "
                "good one with: crm policy import FILE"
            ) from None


def load_policy_file(path: Any) -> tuple[Policy, str]:
    """The --policy file as a policy, and the sha256 of its bytes (what `sha256sum FILE`
    prints: recorded in the audit events of an admin's writes under it)."""
    import hashlib

    from crmcli.files import POLICY_LIMIT, read_bytes

    data = read_bytes(path, option="--policy", limit=POLICY_LIMIT)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise BadInput(f"--policy: {path} is not UTF-8 text; save the policy as UTF-8") from None
    text = text.replace("\r\n", "\n").replace("\r", "\n")  # as text mode reads it
    return parse_policy_file(text, path), hashlib.sha256(data).hexdigest()


def parse_policy_file(text: str, path: Any) -> Policy:
    """Parse a policy file as written (line-precise errors), then with the template files
    it names read in (relative to the file); errors in those name the template file."""
    from dataclasses import replace
    from pathlib import Path

    from crmcli.services.policy_files import inline_template_files

    source = str(path)
    try:
        parse_policy(text, source=source)
    except PolicyInvalid as exc:
        raise policy_error(exc) from None
    base = Path.cwd() if source == "-" else Path(path).parent
    inlined, files = inline_template_files(text, base, source=source)
    try:
        return parse_policy(inlined, source=source)
    except PolicyInvalid as exc:
        for i, issue in enumerate(exc.issues):
            name = issue.path[1] if issue.path[:1] == ("templates",) else None
            if name in files:
                exc.issues[i] = replace(
                    issue, line=None, message=f"{issue.message} (in {files[name]})"
                )
        raise policy_error(exc) from None


def policy_error(exc: PolicyInvalid) -> CrmError:
    issues = sorted(exc.issues, key=lambda i: i.line or 0)
    first, *rest = [i.render(exc.source) for i in issues]
    return BadInput(first, details=rest)
