"""Opening the database as the acting user: one unit of work per command."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from crmcli import clock
from crmcli.context import AppContext
from crmcli.errors import BadInput, CrmError, NotPermitted, StorageError
from crmcli.rules.policy import Policy, PolicyInvalid, parse_policy
from crmcli.store.engine import database_url, ensure_schema, make_engine, storage_errors
from crmcli.store.models import User

if TYPE_CHECKING:
    from crmcli.rules.calendar import BusinessCalendar
    from crmcli.store.models import AuditEvent

ROLES = ("viewer", "editor", "admin")


def role_allows(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed)


@dataclass(eq=False)
class Tx:
    """What a service function needs inside one transaction."""

    session: Session
    actor: User
    now: datetime
    command: str
    load_policy: Callable[[], Policy] = field(repr=False)

    @cached_property
    def policy(self) -> Policy:
        """Loaded on first use: a role check needs no policy (nor a readable one)."""
        return self.load_policy()

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
        )


class Workspace:
    def __init__(self, app: AppContext) -> None:
        self.app = app
        self.url = database_url(app.db)
        # `policy import` must still run when the stored policy is broken: it is the fix
        self.tolerate_bad_policy = False

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
    def reading(self, role: str = "viewer") -> Iterator[Tx]:
        with self._session(write=False) as session:
            yield self._tx(session, role)

    @contextmanager
    def writing(
        self, role: str = "editor", *, bootstrap: bool = False, dry_run: bool = False
    ) -> Iterator[Tx]:
        """A write transaction (BEGIN IMMEDIATE on SQLite); commits only if the block succeeds.

        `dry_run` does all the work, then rolls it back: a plan that is exactly the real run.
        Before committing, the audited rows the transaction wrote are sealed (services.seals).
        """
        with self._session(write=True) as session:
            tx = self._tx(session, role, bootstrap=bootstrap)
            yield tx
            with storage_errors():
                if dry_run:
                    session.rollback()
                    return
                from crmcli.services import seals

                seals.record(tx)
                session.commit()

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

    def _tx(self, session: Session, role: str, *, bootstrap: bool = False) -> Tx:
        actor = self._actor(session, role, bootstrap=bootstrap)
        return Tx(session, actor, self.now, self.app.command, lambda: self.policy(session))

    def acting_name(self, session: Session) -> str:
        # on PostgreSQL the server's login is the identity; --as cannot override it
        if session.get_bind().dialect.name == "postgresql":
            from sqlalchemy import text

            return session.exec(text("SELECT current_user")).scalar_one()  # type: ignore[call-overload]
        return self.app.user

    def _actor(self, session: Session, role: str, *, bootstrap: bool) -> User:
        name = self.acting_name(session)
        user = session.exec(select(User).where(User.name == name)).first()
        if user is None and bootstrap and session.exec(select(User.id).limit(1)).first() is None:
            # the very first user of a new database becomes its admin (crm init)
            return User(name=name, role="admin", created_at=self.now)
        if user is None or not user.active:
            raise NotPermitted(
                f"unknown user {name!r} (from --as, CRM_USER or the login); "
                f"an admin can add it with: crm user add {name} --role editor"
            )
        if not role_allows(user.role, role):
            raise NotPermitted(
                f"{self.app.command} needs the {role} role; {name} is a {user.role} "
                f"(an admin can run: crm user set-role {name} {role})"
            )
        return user

    def policy(self, session: Session) -> Policy:
        if "_policy" not in self.__dict__:
            self.__dict__["_policy"] = self._load_policy(session)
        return self.__dict__["_policy"]

    def _load_policy(self, session: Session) -> Policy:
        if self.app.policy_file is not None:
            return read_policy_file(self.app.policy_file)
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


def read_policy_file(path: Any) -> Policy:
    from pathlib import Path

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise BadInput(
            f"--policy: cannot read {path}: {exc.strerror}; give a readable TOML file"
        ) from None
    except UnicodeDecodeError:
        raise BadInput(f"--policy: {path} is not UTF-8 text; save the policy as UTF-8") from None
    return parse_policy_file(text, path)


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
