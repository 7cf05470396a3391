"""PostgreSQL enforces crm's roles in the server, not only in the CLI (SPEC §7 Trust model).

Each database gets four group roles, named after it so that two crm databases on one server
never share them (`group_names`):

- `<db>_viewer`: SELECT on every table except the personal-data keys (`personal_key`) and the
  audit log's readable personal values (`audit_personal`);
- `<db>_editor`: also INSERT and UPDATE on the business tables, DELETE only where an editor's
  command deletes rows (`EDITOR_DELETES`); it seals personal values with the record's key
  (SELECT, INSERT on `personal_key`) and writes their readable originals (INSERT only);
- `<db>_admin`: also users, campaigns, campaign scope and policy; reads and erases personal
  data (`contact forget`); grants the other groups (ADMIN OPTION) to manage users;
- `<db>_all_campaigns`: sees every campaign (below); unscoped users, and admins through
  `<db>_admin`.

The audit tables (`APPEND_ONLY`) take INSERT only, from everyone: no group is granted UPDATE,
DELETE or TRUNCATE, and a trigger refuses them even to the tables' owner. Campaign scope is
row-level security on the lead-scoped tables (`lead`, every table with a `lead_id` or
`quote_id` column, and obligations of leads and quotes): a policy for `<db>_all_campaigns`
lets everything through (the planner drops it as constant true: no cost, indexes as before),
and one for everybody else lets through the rows of the login's own campaigns.

Everything here converges: `ensure_groups` and `table_statements` read the catalog and return
or run only what differs, so running them again changes nothing. Group roles and logins are
made by the login (it needs CREATEROLE); grants, policies and triggers by the database's owner
role, which owns the tables (`store.engine` switches to it with SET ROLE).
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy.exc import DBAPIError

from crmcli.errors import BadInput, NotPermitted

GROUPS = ("viewer", "editor", "admin")
ALL_CAMPAIGNS = "all_campaigns"

# Append-only for everyone, the owner included: INSERT and SELECT, never UPDATE, DELETE or
# TRUNCATE (grants and a trigger). A new audit table is one more name here.
APPEND_ONLY: tuple[str, ...] = ("audit_event", "audit_seal")
# written only by the server's own triggers (SECURITY DEFINER functions the owner owns, e.g.
# a chain head kept on every audit insert): every group reads them, none writes
KEPT_BY_TRIGGERS: tuple[str, ...] = ("audit_head",)
# readable by admins only: the keys behind the audit log's keyed hashes of personal values,
# and the readable values themselves
PERSONAL = ("personal_key", "audit_personal")
# no editor changes these: who may do what, and which policy is the law
ADMIN_ONLY = ("user", "campaign", "user_campaign", "policy_version")
# Every other table is a business table: editors insert and update it. A table that holds
# anything else belongs in one of the lists above.
# where an editor's command deletes rows: lead merge and imports undo (lead, obligation,
# stage_change, review_item, outbox), quote line --remove, user away --clear
EDITOR_DELETES = (
    "lead",
    "obligation",
    "stage_change",
    "review_item",
    "quote_line",
    "user_away",
    "outbox",  # imports undo: the undone leads' unsent welcome messages
)
# where an admin's command deletes rows: user scope (user_campaign), forget (personal data)
ADMIN_DELETES = (*EDITOR_DELETES, "user_campaign", *PERSONAL)
# the server's own bookkeeping of the schema version: read by every command
SCHEMA_TABLE = "alembic_version"
# SECURITY DEFINER functions (migration 0020) editors and admins call
EDITOR_FUNCTIONS = ("crm_leads_reached_at(text,text)",)

# the longest role name PostgreSQL keeps (NAMEDATALEN - 1 bytes)
_MAX_NAME = 63


def group_names(database: str) -> dict[str, str]:
    """{"viewer", "editor", "admin", "all_campaigns"} -> this database's group role names."""
    prefix = database
    longest = max(len(g) for g in (*GROUPS, ALL_CAMPAIGNS)) + 1
    if len(prefix.encode()) + longest > _MAX_NAME:
        digest = hashlib.sha256(database.encode()).hexdigest()[:8]
        prefix = f"{database.encode()[: _MAX_NAME - longest - 9].decode(errors='ignore')}_{digest}"
    return {g: f"{prefix}_{g}" for g in (*GROUPS, ALL_CAMPAIGNS)}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _groups(conn: Any) -> dict[str, str]:
    if "crm_groups" not in conn.info:  # a connection stays in its database
        database = conn.exec_driver_sql("SELECT current_database()").scalar()
        conn.info["crm_groups"] = group_names(database)
    return conn.info["crm_groups"]


# --- group roles and logins (run as the login: CREATEROLE, or ADMIN OPTION on the groups) ----


def ensure_groups(conn: Any) -> None:
    """Create this database's group roles when missing, and give `<db>_admin` what it needs to
    manage users: membership, with ADMIN OPTION, of the other three groups."""
    names = _groups(conn)
    existing, held = conn.exec_driver_sql(
        "SELECT ARRAY(SELECT rolname::text FROM pg_roles WHERE rolname = ANY(%(names)s)), "
        "  ARRAY(SELECT g.rolname::text FROM pg_auth_members a "
        "    JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member "
        "    WHERE m.rolname = %(admin)s AND a.admin_option)",
        {"names": list(names.values()), "admin": names["admin"]},
    ).one()
    statements = [f"CREATE ROLE {quote(n)} NOLOGIN" for n in names.values() if n not in existing]
    statements += [
        f"GRANT {quote(names[group])} TO {quote(names['admin'])} WITH ADMIN OPTION"
        for group in ("viewer", "editor", ALL_CAMPAIGNS)
        if names[group] not in held
    ]
    if statements:
        _run_as_manager(conn, statements, what="crm's group roles " + ", ".join(names.values()))


def grant_login(conn: Any, name: str, *, role: str, scoped: bool, active: bool = True) -> None:
    """The login `name` (made when missing: LOGIN, no password, the DBA sets authentication)
    in the groups its crm user needs and in no other group of this database: its role's group,
    and `<db>_all_campaigns` unless it is limited to campaigns (admins see every campaign
    through `<db>_admin`). An inactive user keeps its login but no group."""
    names = _groups(conn)
    wanted: dict[str, bool] = {}  # group -> with ADMIN OPTION
    if active:
        wanted[names[role]] = role == "admin"  # an admin grants admin to others (user add)
        if role != "admin" and not scoped:
            wanted[names[ALL_CAMPAIGNS]] = False
    exists, held = conn.exec_driver_sql(
        "SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %(member)s), "
        "  (SELECT json_object_agg(g.rolname, a.admin_option) FROM pg_auth_members a "
        "   JOIN pg_roles g ON g.oid = a.roleid JOIN pg_roles m ON m.oid = a.member "
        "   WHERE m.rolname = %(member)s AND g.rolname = ANY(%(groups)s))",
        {"member": name, "groups": list(names.values())},
    ).one()
    held = held or {}
    if not exists:
        _run_as_manager(conn, [f"CREATE ROLE {quote(name)} LOGIN"], what=f"the login {name}")
    statements = [f"REVOKE {quote(g)} FROM {quote(name)}" for g in sorted(held.keys() - wanted)]
    for group, admin in wanted.items():
        if group not in held or (admin and not held[group]):
            option = " WITH ADMIN OPTION" if admin else ""
            statements.append(f"GRANT {quote(group)} TO {quote(name)}{option}")
        elif held[group] and not admin:  # keep the membership, not the right to grant it
            statements.append(f"REVOKE ADMIN OPTION FOR {quote(group)} FROM {quote(name)}")
    if statements:
        _run_as_manager(conn, statements, what=f"the groups of the login {name}")


def grant_logins(conn: Any) -> None:
    """Every crm user's login in its groups, after a restore or copy brought the users. Reads
    them as the owner the restore acts as, then grants as the login (roles are its business:
    CREATEROLE), which it stays."""
    rows = conn.exec_driver_sql(
        "SELECT u.name, u.role, u.active, EXISTS (SELECT 1 FROM user_campaign uc "
        'WHERE uc.user_id = u.id) FROM "user" u ORDER BY u.id'
    ).all()
    conn.exec_driver_sql("SET LOCAL ROLE NONE")
    for name, role, active, scoped in rows:
        grant_login(conn, name, role=role, scoped=bool(scoped), active=bool(active))


def grant_first_admin(conn: Any) -> None:
    """A database without crm users is being set up (crm init, a restore) by a login that may
    act as its owner: it becomes the first admin, so it gets `<db>_admin` now, and what follows
    in its first command runs with those rights. Called as the owner; ends as the login."""
    empty = not conn.exec_driver_sql('SELECT EXISTS (SELECT 1 FROM "user")').scalar()
    conn.exec_driver_sql("SET LOCAL ROLE NONE")
    if empty:
        login = conn.exec_driver_sql("SELECT session_user").scalar()
        grant_login(conn, login, role="admin", scoped=False)


def _run_as_manager(conn: Any, statements: list[str], *, what: str) -> None:
    """Role statements, run as the login: a refusal says what the login lacks."""
    login = conn.exec_driver_sql("SELECT session_user").scalar()
    try:
        execute(conn, statements)
    except DBAPIError as exc:
        state = getattr(exc.orig, "sqlstate", None)
        if state == "42501":  # insufficient_privilege
            raise NotPermitted(
                f"the database server refused to create or grant {what}: that takes CREATEROLE, "
                f"which {login} lacks (a database administrator gives it; see README: PostgreSQL)"
            ) from None
        if state == "42939":  # reserved_name
            raise BadInput(
                f"name: PostgreSQL reserves that name for itself ({what}); choose another"
            ) from None
        raise


def execute(conn: Any, statements: list[str]) -> None:
    """Several statements without parameters, in one round trip."""
    if statements:
        conn.exec_driver_sql(";\n".join(statements))


# --- grants, row-level security and triggers (run as the database's owner role) --------------


def table_statements(conn: Any) -> list[str]:
    """What it takes to bring every table's grants, policies and audit triggers to what crm
    needs ([] when they are so already)."""
    names = _groups(conn)
    catalog = _catalog(conn, names)
    relations = _grouped(catalog["relations"] or [])
    statements = _grant_statements(names, {**relations, **_grouped(catalog["functions"] or [])})
    if catalog["lacking_usage"]:  # PUBLIC has USAGE on the schema, unless a DBA took it away
        statements.append(
            f"GRANT USAGE ON SCHEMA {quote(catalog['schema'])} TO "
            + ", ".join(map(quote, catalog["lacking_usage"]))
        )
    statements += _policy_statements(names, relations, catalog["policies"] or [])
    statements += _trigger_statements(relations, catalog["triggers"] or [])
    return statements


# The catalog as table_statements needs it, in one round trip: each table and sequence (kind,
# row security on, each grant but the owner's, which of lead_id and quote_id it has), the
# functions groups call (their grants: PUBLIC's by default until revoked), the policies, the
# triggers of the append-only tables, and the groups that lack USAGE on the schema.
_CATALOG = """
SELECT current_schema() AS schema,
  (SELECT json_agg(json_build_array(c.relname, c.relkind, c.relrowsecurity,
      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
      a.privilege_type,
      ARRAY(SELECT attname::text FROM pg_attribute WHERE attrelid = c.oid
            AND attname IN ('lead_id', 'quote_id') AND NOT attisdropped)))
   FROM pg_class c LEFT JOIN LATERAL aclexplode(c.relacl) a ON a.grantee <> c.relowner
   WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'S'))
  AS relations,
  (SELECT json_agg(json_build_array(p.oid::regprocedure::text, 'f', false,
      CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END,
      a.privilege_type, ARRAY[]::text[]))
   FROM pg_proc p
   LEFT JOIN LATERAL aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
     ON a.grantee <> p.proowner
   WHERE p.oid = ANY(ARRAY(SELECT to_regprocedure(f) FROM unnest(%(functions)s::text[]) f)))
  AS functions,
  (SELECT json_agg(json_build_array(tablename, policyname, cmd, roles::text[]))
   FROM pg_policies WHERE schemaname = current_schema()) AS policies,
  (SELECT json_agg(json_build_array(c.relname, t.tgname))
   FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
   WHERE c.relnamespace = current_schema()::regnamespace AND c.relname = ANY(%(audit)s))
  AS triggers,
  ARRAY(SELECT g FROM unnest(%(groups)s::text[]) g
        WHERE CASE WHEN EXISTS (SELECT 1 FROM pg_roles WHERE rolname = g)
              THEN NOT has_schema_privilege(g, current_schema(), 'USAGE') ELSE false END)
  AS lacking_usage
"""


def _catalog(conn: Any, names: dict[str, str]) -> dict[str, Any]:
    params = {
        "functions": list(EDITOR_FUNCTIONS),
        "audit": list(APPEND_ONLY),
        "groups": sorted(names[g] for g in GROUPS),
    }
    return dict(conn.exec_driver_sql(_CATALOG, params).mappings().one())


def _grouped(rows: Iterable[Any]) -> dict[str, dict[str, Any]]:
    relations: dict[str, dict[str, Any]] = {}
    for name, kind, secured, grantee, privilege, links in rows:
        rel = relations.setdefault(
            name,
            {"kind": kind, "secured": secured, "grants": defaultdict(set), "links": links},
        )
        if grantee is not None:
            rel["grants"][grantee].add(privilege)
    return relations


def wanted_privileges(name: str, kind: str) -> dict[str, set[str]]:
    """{group: privileges} crm needs on a table ("r"), sequence ("S") or function ("f")."""
    if kind == "f":
        return {"editor": {"EXECUTE"}, "admin": {"EXECUTE"}}
    if kind == "S":  # ids for new rows (nextval); reading last_value (backups)
        return {"editor": {"USAGE", "SELECT"}, "admin": {"USAGE", "SELECT"}}
    read = {"SELECT"}
    if name == SCHEMA_TABLE:
        return {g: read for g in GROUPS}
    if name in APPEND_ONLY:
        return {"viewer": read, "editor": read | {"INSERT"}, "admin": read | {"INSERT"}}
    if name in KEPT_BY_TRIGGERS:
        return {g: read for g in GROUPS}
    if name == "personal_key":
        editor = {"SELECT", "INSERT"}  # seals what it writes with the record's key
    elif name == "audit_personal":
        editor = {"INSERT"}  # writes the readable originals, never reads them back
    elif name in ADMIN_ONLY:
        editor = read
    else:
        editor = {"SELECT", "INSERT", "UPDATE"} | ({"DELETE"} if name in EDITOR_DELETES else set())
    admin = {"SELECT", "INSERT", "UPDATE"} | ({"DELETE"} if name in ADMIN_DELETES else set())
    return {"viewer": set() if name in PERSONAL else read, "editor": editor, "admin": admin}


_KINDS = {"r": "TABLE", "S": "SEQUENCE", "f": "FUNCTION"}


def _grant_statements(names: dict[str, str], relations: dict[str, dict[str, Any]]) -> list[str]:
    """GRANTs of what is missing, REVOKEs of anything more, to anyone (another database's
    groups after cloning a template, PUBLIC, grants made by hand), grouped into few
    statements."""
    ours = {names[g] for g in GROUPS}
    grants: dict[tuple[str, str, frozenset[str]], list[str]] = defaultdict(list)
    revokes: dict[tuple[str, str, frozenset[str]], list[str]] = defaultdict(list)
    for name, rel in sorted(relations.items()):
        kind = _KINDS[rel["kind"]]
        target = name if kind == "FUNCTION" else quote(name)
        wanted = {names[g]: p for g, p in wanted_privileges(name, rel["kind"]).items() if p}
        held = rel["grants"]
        for grantee in sorted(ours | held.keys()):
            missing = wanted.get(grantee, set()) - held.get(grantee, set())
            extra = held.get(grantee, set()) - wanted.get(grantee, set())
            if missing:
                grants[(kind, grantee, frozenset(missing))].append(target)
            if extra:
                revokes[(kind, grantee, frozenset(extra))].append(target)
    statements = [
        f"REVOKE {', '.join(sorted(p))} ON {kind} {', '.join(t)} FROM "
        + (grantee if grantee == "PUBLIC" else quote(grantee))
        for (kind, grantee, p), t in revokes.items()
    ]
    return statements + [
        f"GRANT {', '.join(sorted(p))} ON {kind} {', '.join(t)} TO {quote(grantee)}"
        for (kind, grantee, p), t in grants.items()
    ]


# A scoped login's campaigns. Policies run as the login, so this reads the user tables with the
# login's own rights (every group may read them).
MY_CAMPAIGNS = (
    'SELECT uc.campaign_id FROM user_campaign uc JOIN "user" u ON u.id = uc.user_id '
    "WHERE u.name = current_user"
)
# the policies' names carry a version: a changed policy gets a new name, so converging
# replaces it
ALL_CAMPAIGNS_POLICY = "crm_all_campaigns_v1"
SCOPE_POLICY = "crm_campaign_scope_v1"


def scope_condition(table: str, links: Iterable[str]) -> str | None:
    """The row-level security condition that limits `table` to the login's campaigns, or None
    for a table that belongs to no campaign."""
    if table == "lead":
        return f"lead.campaign_id IN ({MY_CAMPAIGNS})"
    if table == "obligation":  # a deadline on a lead or one of its quotes
        return (
            "CASE obligation.record_type "
            "WHEN 'lead' THEN EXISTS (SELECT 1 FROM lead p WHERE p.id = obligation.record_id) "
            "WHEN 'quote' THEN EXISTS (SELECT 1 FROM quote p WHERE p.id = obligation.record_id) "
            "ELSE true END"
        )
    # the parent's own policy applies inside EXISTS: a quote line reaches its lead through
    # its quote
    for column, parent in (("lead_id", "lead"), ("quote_id", "quote")):
        if column in links and table != parent:
            # rows on no lead (an activity on an account) belong to no campaign
            return (
                f"{quote(table)}.{column} IS NULL OR EXISTS "
                f"(SELECT 1 FROM {parent} p WHERE p.id = {quote(table)}.{column})"
            )
    return None


def _wanted_policies(
    names: dict[str, str], relations: dict[str, dict[str, Any]]
) -> dict[str, dict[str, tuple[str, str, str]]]:
    """{table: {policy: (command, role, condition)}}."""
    wanted: dict[str, dict[str, tuple[str, str, str]]] = {}
    for table, rel in relations.items():
        condition = scope_condition(table, rel["links"]) if rel["kind"] == "r" else None
        if condition is not None:
            wanted[table] = {
                ALL_CAMPAIGNS_POLICY: ("ALL", names[ALL_CAMPAIGNS], "true"),
                SCOPE_POLICY: ("ALL", "public", condition),
            }
    if "user_away" in relations:  # anyone reads absences; editors change only their own
        own = 'user_away.user_id IN (SELECT id FROM "user" WHERE name = current_user)'
        wanted["user_away"] = {
            "crm_read_v1": ("SELECT", "public", "true"),
            "crm_own_v1": ("ALL", "public", own),
            "crm_admin_v1": ("ALL", names["admin"], "true"),
        }
    return wanted


def _policy_statements(
    names: dict[str, str], relations: dict[str, dict[str, Any]], policies: list[list[Any]]
) -> list[str]:
    wanted = _wanted_policies(names, relations)
    existing: dict[str, dict[str, tuple[str, str]]] = defaultdict(dict)
    for table, policy, command, roles in policies:
        existing[table][policy] = (command, ",".join(sorted(roles)))
    statements = []
    for table in sorted(existing.keys() | wanted.keys()):
        want = {p: (cmd, role) for p, (cmd, role, _) in wanted.get(table, {}).items()}
        if existing.get(table, {}) == want:
            continue
        statements += [
            f"DROP POLICY {quote(p)} ON {quote(table)}" for p in sorted(existing.get(table, {}))
        ]
        for policy, (command, role, condition) in wanted.get(table, {}).items():
            target = "PUBLIC" if role == "public" else quote(role)
            check = "" if command == "SELECT" else f" WITH CHECK ({condition})"
            statements.append(
                f"CREATE POLICY {quote(policy)} ON {quote(table)} FOR {command} TO {target} "
                f"USING ({condition}){check}"
            )
    statements += [
        f"ALTER TABLE {quote(t)} ENABLE ROW LEVEL SECURITY"
        for t in sorted(wanted)
        if not relations[t]["secured"]
    ]
    return statements


APPEND_ONLY_TRIGGERS = {
    "crm_append_only": "BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW",
    "crm_append_only_truncate": "BEFORE TRUNCATE ON {table} FOR EACH STATEMENT",
}


def _trigger_statements(
    relations: dict[str, dict[str, Any]], triggers: list[list[str]]
) -> list[str]:
    present = {tuple(t) for t in triggers}
    return [
        f"CREATE TRIGGER {trigger} {when.format(table=quote(table))} "
        "EXECUTE FUNCTION crm_refuse_change()"
        for table in APPEND_ONLY
        if table in relations
        for trigger, when in APPEND_ONLY_TRIGGERS.items()
        if (table, trigger) not in present
    ]


# --- what the acting login may read (commands degrade instead of failing) --------------------


def can_read(conn: Any, table: str) -> bool:
    """Whether the login may SELECT `table` (always on SQLite); remembered per connection."""
    if conn.dialect.name != "postgresql":
        return True
    key = ("crm_can_read", table)
    if key not in conn.info:
        conn.info[key] = bool(
            conn.exec_driver_sql(
                "SELECT has_table_privilege(%(t)s, 'SELECT')", {"t": table}
            ).scalar()
        )
    return conn.info[key]


def leads_reached_at(
    conn: Any, email: str | None, phone: str | None
) -> list[tuple[int, bool, bool]]:
    """(lead id, same email, same phone) of every lead with this email or phone, whichever
    campaign it is in: row-level security hides other campaigns' leads from a scoped login,
    but a duplicate there is still a duplicate. Nothing else of those leads is revealed."""
    rows = conn.exec_driver_sql(
        "SELECT id, same_email, same_phone FROM crm_leads_reached_at(%(email)s, %(phone)s)",
        {"email": email, "phone": phone},
    )
    return [(int(i), bool(e), bool(p)) for i, e, p in rows]
