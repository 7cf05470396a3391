"""The PostgreSQL privilege plan as data (store/pg_security.py): fast, no server needed.
tests/test_postgres.py checks the same against real logins."""

from __future__ import annotations

from crmcli.store import pg_security
from crmcli.store.models import all_metadata


def test_group_names_belong_to_one_database_and_fit_postgresql() -> None:
    assert pg_security.group_names("crm") == {
        "viewer": "crm_viewer",
        "editor": "crm_editor",
        "admin": "crm_admin",
        "all_campaigns": "crm_all_campaigns",
    }
    long = "sales_" + "é" * 40  # 86 bytes: PostgreSQL would cut the name silently
    names = pg_security.group_names(long)
    assert all(len(n.encode()) <= 63 for n in names.values())
    assert len(set(names.values())) == 4
    assert names != pg_security.group_names(long + "x")  # a different database, other roles


def test_least_privilege_table_by_table() -> None:
    def may(table: str, group: str) -> set[str]:
        return pg_security.wanted_privileges(table, "r").get(group, set())

    for table in ("personal_key", "audit_personal"):
        assert may(table, "viewer") == set()
    assert may("audit_personal", "editor") == {"INSERT"}  # writes, never reads back
    assert may("personal_key", "editor") == {"SELECT", "INSERT"}  # seals with the key
    assert {"DELETE"} <= may("audit_personal", "admin") and {"DELETE"} <= may(
        "personal_key", "admin"
    )
    for table in all_metadata().tables:
        assert may(table, "viewer") <= {"SELECT"}
        for group in pg_security.GROUPS:
            assert "TRUNCATE" not in may(table, group)
    for table in pg_security.APPEND_ONLY:
        for group in pg_security.GROUPS:
            assert may(table, group) <= {"SELECT", "INSERT"}
    for table in ("user", "campaign", "user_campaign", "policy_version"):
        assert may(table, "editor") == {"SELECT"}
    assert "DELETE" in may("lead", "editor") and "DELETE" not in may("account", "editor")
    assert pg_security.wanted_privileges("lead_id_seq", "S")["editor"] == {"USAGE", "SELECT"}


def test_every_table_tied_to_a_lead_is_campaign_scoped() -> None:
    scoped = set()
    for name, table in all_metadata().tables.items():
        links = [c for c in ("lead_id", "quote_id") if c in table.c]
        if pg_security.scope_condition(name, links) is not None:
            scoped.add(name)
    assert scoped == {
        "lead", "activity", "email_message", "engagement_event", "import_row", "notification",
        "obligation", "outbox", "quote", "quote_approval", "quote_line", "review_item",
        "score_event", "stage_change",
    }  # fmt: skip
    assert "current_user" in pg_security.scope_condition("lead", [])  # type: ignore[operator]
