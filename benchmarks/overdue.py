#!/usr/bin/env python3
"""`crm report overdue` at scale: how fast, and how much memory, over a million leads?

Builds (or reuses) a SQLite database of N leads with their reps, activities and the
obligations the policy rules create, then times (wall clock, one fresh process per run,
stdout to /dev/null, one warm-up run not counted, runs interleaved round-robin):

  python -c "import typer, sqlmodel"              anchor: what any typer + sqlmodel CLI pays
  crm report overdue --format json                target: median < 3 s
  crm report overdue --owner REP --format json    target: median < 1 s
  crm report overdue --format csv                 target: median < 3 s

with the CPU seconds of each run beside the wall time (on a busy machine the wall clock
shows the load, the CPU time the work), and, in one more run each, the peak memory (max
RSS, target < 300 MB for the json runs) and the rows printed. Every run has CRM_NOW fixed
at the instant the data is built around. It is a measurement, not a test: it prints
PASS/MISS per target and always exits 0.

    python benchmarks/overdue.py [--leads 1000000] [--runs 5] [--db PATH | --reuse PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

OWNER_TARGET_S = 1.0
FULL_TARGET_S = 3.0
RSS_TARGET_MB = 300.0

NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)  # a Monday, 10:00 in the policy's New York
CRM_NOW = NOW.isoformat()
SEED = 20260302
ADMIN = "admin"
BATCH = 50_000  # rows per executemany
LEADS_PER_COMMIT = 250_000

MINUTE, HOUR, DAY = 60, 3600, 86400
REPS = (
    "maria", "devon", "li", "pat", "aisha", "bruno", "chloe", "diego", "elena", "farid",
    "grace", "hiro", "ines", "jonas", "kofi", "lena", "mateo", "nadia", "omar", "priya",
)  # fmt: skip
FIRST_NAMES = (
    "Ava", "Liam", "Olivia", "Noah", "Emma", "James", "Sophia", "Lucas", "Mia", "Mason",
    "Isabella", "Ethan", "Charlotte", "Logan", "Amelia", "Elijah", "Harper", "Aiden",
    "Evelyn", "Jackson", "Aria", "Alexander", "Emily", "Sebastian", "Zoe", "Mateo", "Lea",
    "Yuki", "Priya", "Omar",
)  # fmt: skip
LAST_NAMES = (
    "Thompson", "Garcia", "Chen", "Patel", "Müller", "O'Brien", "Rossi", "Martin", "Johnson",
    "Davis", "Brown", "Wilson", "Lopez", "Walker", "Hill", "Lewis", "Nguyen", "Kim", "Silva",
    "Novak", "Schmidt", "Dubois", "Tanaka", "Okafor", "Haddad", "Kowalski", "Berg", "Moreau",
    "Costa", "Ivanova",
)  # fmt: skip
COMPANY_WORDS = (
    "Northwind", "Blue Harbor", "Brightline", "Cobalt", "Rheinwerk", "Summit", "Lumen",
    "Atlas", "Keystone", "Evergreen", "Harborview", "Quantum", "Falcon", "Clearwater",
    "Nimbus", "Sterling", "Granite", "Orchid", "Vertex", "Maple",
)  # fmt: skip
COMPANY_KINDS = (
    "Traders", "Logistics", "Health", "Fintech", "Maschinenbau", "Dental Group", "Analytics",
    "Freight", "Credit Union", "Foods", "Clinics", "Ledger", "Aerospace Parts", "Labs",
    "Retail",
)  # fmt: skip
INDUSTRIES = ("saas", "fintech", "manufacturing", "healthcare", "logistics", "retail", None)
SOURCES = ("web", "referral", "trade_show", "webinar", "partner", "cold_call", "import")
TITLES = ("CEO", "CTO", "CIO", "VP Operations", "Head of IT", "Buyer", "Office Manager", None)
COUNTRIES = (("US", "NY"), ("US", "CA"), ("US", "TX"), ("US", "NJ"), ("GB", None), ("DE", None))
OPEN_STAGES = (("qualification", 14), ("needs_analysis", 21), ("proposal", 14), ("negotiation", 14))
PROSPECTING_STALE_DAYS = 14
# where a lead of 3-30 days ("young") or older stands: cumulative shares of contacted,
# nurture and open opportunities; the rest are closed (won or lost)
STANDING = {"young": (0.40, 0.50, 0.80), "old": (0.06, 0.24, 0.50)}
TOUCHES = {  # how far down the cadence the rep got (outbound touches), by status or kind
    "contacted": (2, 3, 4, 5, 5),
    "nurture": (1, 2, 3),
    "opportunity": (1, 1, 1, 2),
}
REPLY_RATE = {"contacted": 0.25, "nurture": 0.7, "opportunity": 0.6}
CADENCE_DAYS = (1, 3, 7, 14)
STALE_SUGGEST = ["nurture", "closed_lost"]
CALL_OUTCOMES = ("connected", "voicemail", "no-answer")
LOST_REASONS = ("price", "timing", "competitor", "no budget")

LEAD_COLUMNS = (
    "id", "first_name", "last_name", "company", "title", "email", "phone", "source", "industry",
    "employees", "country", "region", "stage", "status", "score", "band", "owner_id",
    "campaign_id", "company_key", "last_key", "extra", "acquired_at", "created_at",
    "updated_at", "kind", "stage_entered_at", "assigned_at", "first_response_at", "amount",
    "close_date", "po_number", "lost_reason", "quote_ref", "prospect_said_no",
)  # fmt: skip
ACTIVITY_COLUMNS = (
    "id", "lead_id", "user_id", "type", "direction", "outcome", "subject", "notes", "details",
    "at", "due_at", "duration_minutes", "status", "done_at", "done_by", "points", "created_at",
)  # fmt: skip
OBLIGATION_COLUMNS = (
    "id", "rule", "record_type", "record_id", "key", "owner_id", "title", "started_at", "due_at",
    "status", "met_at", "met_by", "detail",
)  # fmt: skip


def crm_command() -> list[str]:
    found = shutil.which("crm")
    return [found] if found else [sys.executable, "-m", "crmcli"]


def bench_env() -> dict[str, str]:
    """The environment of every timed process: no settings leaking in from the shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    env.update(CRM_USER=ADMIN, CRM_NOW=CRM_NOW, NO_COLOR="1")
    return env


# --- building the database ------------------------------------------------------------------

_BASE = NOW.replace(tzinfo=None)


def stamp(offset: float) -> str:
    """NOW + offset seconds as UTCDateTime stores it on SQLite: naive UTC with microseconds."""
    return (_BASE + timedelta(seconds=int(offset))).isoformat(" ", "microseconds")


class Generator:
    """Leads, their activities and their obligations, shaped like what the program stores.

    Times are seconds relative to NOW (negative: past). Leads were created over the last
    90 days; old leads have mostly moved on (nurture, opportunity, closed), young ones are
    new or in their contact cadence, so obligations fall due from ~90 days ago to ~30 days
    ahead and some 10-20 % of them are open and overdue.
    """

    def __init__(
        self, total: int, rep_ids: dict[str, int], admin_id: int, campaign_ids: list[int]
    ) -> None:
        self.rng = random.Random(SEED)
        self.total = total
        self.reps = list(rep_ids.items())
        self.admin_id = admin_id
        self.campaign_ids = campaign_ids
        # business-hour deadlines come from the program's own calendar and default policy
        from crmcli.rules.calendar import BusinessCalendar
        from crmcli.rules.policy import default_policy

        self.policy = default_policy()
        self.calendar = BusinessCalendar.from_policy(self.policy)
        self.activity_id = 0
        self.obligation_id = 0
        self.leads: list[tuple] = []
        self.activities: list[tuple] = []
        self.obligations: list[tuple] = []

    def business_due(self, start: int, rule: str) -> int:
        """When an obligation of a business-hours `rule` starting at `start` falls due."""
        from crmcli.rules.calendar import due_after

        due = due_after(self.policy, self.calendar, NOW + timedelta(seconds=start), rule)
        return int((due - NOW).total_seconds())

    def obligation(
        self,
        rule: str,
        lead_id: int,
        owner_id: int | None,
        title: str,
        started: int,
        due: int,
        met: int | None,
        met_by: str | None,
        key: str = "",
        detail: str = "{}",
    ) -> None:
        self.obligation_id += 1
        self.obligations.append(
            (
                self.obligation_id, rule, "lead", lead_id, key, owner_id, title, stamp(started),
                stamp(due), "open" if met is None else "met",
                None if met is None else stamp(met), met_by, detail,
            )
        )  # fmt: skip

    def activity(
        self,
        lead_id: int,
        user_id: int,
        kind: str,
        at: int,
        *,
        direction: str | None = None,
        status: str = "logged",
        due: int | None = None,
        done: int | None = None,
        done_by: str | None = None,
        subject: str | None = None,
    ) -> int:
        self.activity_id += 1
        rng = self.rng
        outcome = rng.choice(CALL_OUTCOMES) if kind == "call" else None
        minutes = rng.choice((5, 10, 15, 30)) if kind in ("call", "meeting") else None
        points = 0 if status == "open" else {"call": 4, "meeting": 10, "email": 2}.get(kind, 1)
        self.activities.append(
            (
                self.activity_id, lead_id, user_id, kind, direction, outcome, subject, None,
                "{}", stamp(at), None if due is None else stamp(due), minutes, status,
                None if done is None else stamp(done), done_by, points,
                stamp(min(at, 0) if status == "logged" else at - rng.randint(HOUR, 5 * DAY)),
            )
        )  # fmt: skip
        return self.activity_id

    def lead(self, lead_id: int) -> None:
        """One lead's story, told in order: its row, activities and obligations."""
        rng = self.rng
        # leads arrive in id order over the last 90 days, so ids (and rowids) follow time
        age = (self.total - lead_id) / self.total * 90 * DAY + rng.uniform(5 * MINUTE, HOUR)
        created = -int(age)
        acquired = created - rng.randint(0, 6 * HOUR)
        if rng.random() < 0.10:
            owner_id, owner, assigned = None, ADMIN, None
        else:
            owner, owner_id = rng.choice(self.reps)
            assigned = min(created + rng.randint(MINUTE, 2 * HOUR), -1)
        actor_id = owner_id or self.admin_id

        # where the lead stands: the older it is, the further it has moved on
        r = rng.random()
        days = age / DAY
        if owner_id is None:
            status = "new" if days < 2 or r < 0.15 else ("contacted" if r < 0.45 else "nurture")
            stage, kind = "prospecting", "lead"
        elif days < 3:
            status = "new" if r < 0.4 else "contacted"
            stage, kind = "prospecting", "lead"
        else:
            contacted, nurture, open_opp = STANDING["young" if days < 30 else "old"]
            if r < contacted:
                status, stage, kind = "contacted", "prospecting", "lead"
            elif r < nurture:
                status, stage, kind = "nurture", "prospecting", "lead"
            elif r < open_opp:
                status, stage, kind = "qualified", rng.choice(OPEN_STAGES)[0], "opportunity"
            elif rng.random() < 0.45:
                status, stage, kind = "won", "closed_won", "opportunity"
            else:
                status, stage, kind = "lost", "closed_lost", "opportunity"
        closed = status in ("won", "lost")
        is_opp = kind == "opportunity"

        # outbound touches follow the cadence (day 0, 1, 3, 7, 14 from the first), cut short
        touches: list[int] = []
        if status != "new":
            first = created + rng.randint(10 * MINUTE, 20 * HOUR)
            wanted = rng.choice(TOUCHES[kind if is_opp else status])
            for day in (0, *CADENCE_DAYS)[:wanted]:
                at = first + day * DAY + rng.randint(0, 8 * HOUR)
                if at < -MINUTE:
                    touches.append(at)
        replied = None
        if touches and rng.random() < REPLY_RATE[kind if is_opp else status]:
            replied = touches[0] + rng.randint(HOUR, 3 * DAY)
            replied = replied if replied < 0 else None
        for at in touches:
            kind_ = "call" if rng.random() < 0.6 else "email"
            subject = None if kind_ == "call" else "following up"
            self.activity(lead_id, actor_id, kind_, at, direction="outbound", subject=subject)
        if replied is not None:
            self.activity(lead_id, actor_id, "email", replied, direction="inbound", subject="re")
        if rng.random() < 0.1:
            self.activity(lead_id, actor_id, "note", created + rng.randint(0, int(age)))

        stage_entered = created + int(rng.uniform(0.3, 1.0) * age) if is_opp else created
        # next steps: open opportunities mostly have one scheduled; some are done or late
        tasks: list[tuple[int, int, int | None]] = []  # (id, due, done)
        if is_opp and not closed:
            for _ in range(rng.choice((0, 1, 1, 1, 2))):
                due = stage_entered + rng.randint(DAY, 30 * DAY)
                due = min(due, 30 * DAY)
                done = due - rng.randint(0, DAY) if due < 0 and rng.random() < 0.6 else None
                task = self.activity(
                    lead_id, actor_id, "task", due, status="open" if done is None else "done",
                    due=due, done=done, done_by=None if done is None else owner,
                    subject="send proposal",
                )  # fmt: skip
                tasks.append((task, due, done))

        # the lead row
        company = f"{rng.choice(COMPANY_WORDS)} {rng.choice(COMPANY_KINDS)}"
        first_name, last_name = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        country, region = rng.choice(COUNTRIES)
        score = rng.randint(0, 100) if is_opp or rng.random() < 0.3 else None
        band = None
        if score is not None:
            band = ("nurture", "scheduled_follow_up", "immediate_sales", "immediate_executive")[
                min(score // 30, 3)
            ]
        last_activity = max([*touches, *(t[1] for t in tasks if t[1] < 0), stage_entered])
        updated = min(max(last_activity, stage_entered), -1)
        email_name = f"{first_name}.{last_name}".lower().replace("'", "")
        self.leads.append(
            (
                lead_id, first_name, last_name, company, rng.choice(TITLES),
                f"{email_name}{lead_id}@{company.split()[0].lower()}.example",
                f"+1212{rng.randint(0, 9_999_999):07d}", rng.choice(SOURCES),
                rng.choice(INDUSTRIES), rng.choice((12, 40, 140, 320, 850, 1200, 5000)),
                country, region, stage, status, score, band, owner_id,
                rng.choice(self.campaign_ids) if rng.random() < 0.3 else None,
                company.lower(), last_name[:3].lower(), "{}", stamp(acquired), stamp(created),
                stamp(updated), kind, stamp(stage_entered),
                None if assigned is None else stamp(assigned),
                stamp(touches[0]) if touches else None,
                rng.randint(5_000, 500_000) * 100 if is_opp else None,
                (NOW + timedelta(days=rng.randint(-60, 120))).date().isoformat()
                if is_opp else None,
                f"PO-{lead_id}" if status == "won" else None,
                rng.choice(LOST_REASONS) if status == "lost" else None,
                f"Q-{lead_id:07d}" if is_opp and stage in ("proposal", "negotiation", "closed_won")
                else None,
                0,
            )
        )  # fmt: skip

        # its obligations, as the rules in crmcli/rules/obligations.py derive them
        label = f"{first_name} {last_name}, {company}"
        add = self.obligation
        add("lead.entry", lead_id, owner_id, f"enter the lead: {label}", acquired,
            acquired + DAY, created, ADMIN)  # fmt: skip
        response = next((t for t in touches if t >= created), None)
        if response is not None or not (closed or is_opp):
            add("lead.first_response", lead_id, owner_id, f"first response: {label}", created,
                self.business_due(created, "lead.first_response"), response,
                None if response is None else owner)  # fmt: skip
        if assigned is not None:
            touch = next((t for t in touches if t >= assigned), None)
            if touch is not None or not closed:
                add("lead.follow_up", lead_id, owner_id, f"follow up: {label}", assigned,
                    assigned + 2 * DAY, touch, None if touch is None else owner)  # fmt: skip
        if kind == "lead" and touches:
            self.cadence(lead_id, owner_id, owner, label, touches, replied)
        if status == "won" and replied is not None:  # a customer's message is answered in time
            answer = next((t for t in touches if t > replied), None)
            add("customer.response", lead_id, owner_id, f"answer the customer's email: {label}",
                replied, self.business_due(replied, "customer.response"), answer,
                None if answer is None else owner, key="1")  # fmt: skip
        for task, due, done in tasks:
            add("task.due", lead_id, owner_id, f"send proposal: {label}", due, due, done,
                None if done is None else owner, key=str(task),
                detail=json.dumps({"task": task}))  # fmt: skip
        if is_opp and not closed:
            next_step = any(done is None for _, _, done in tasks)
            if not next_step:
                started = max([stage_entered, *(done for _, _, done in tasks if done)])
                add("opportunity.next_step", lead_id, owner_id,
                    f"schedule a next step: {label}", started, started, None, None)  # fmt: skip
            missing = [] if next_step else ["next step"]  # every opportunity has a close date
            what = " (set next step)" if missing else ""
            add("opportunity.weekly_update", lead_id, owner_id, f"weekly update{what}: {label}",
                updated, updated + 7 * DAY, None, None,
                detail=json.dumps({"missing": missing}))  # fmt: skip
        stale_days = dict(OPEN_STAGES).get(stage)
        if stage == "prospecting" and status != "nurture":
            stale_days = PROSPECTING_STALE_DAYS
        if stale_days and not closed:
            add("opportunity.stale", lead_id, owner_id,
                f"stale in {stage}; move on or to {' or '.join(STALE_SUGGEST)}: {label}",
                stage_entered, stage_entered + stale_days * DAY, None, None, key=stage,
                detail=json.dumps({"suggest": STALE_SUGGEST}))  # fmt: skip
        if is_opp:  # the prospecting stale watch it left behind was cancelled
            self.obligation_id += 1
            self.obligations.append(
                (
                    self.obligation_id, "opportunity.stale", "lead", lead_id, "prospecting",
                    owner_id, f"stale in prospecting; move on or to nurture or closed_lost: "
                    f"{label}", stamp(created), stamp(created + PROSPECTING_STALE_DAYS * DAY),
                    "cancelled", None, None, json.dumps({"suggest": STALE_SUGGEST}),
                )
            )  # fmt: skip

    def cadence(
        self,
        lead_id: int,
        owner_id: int | None,
        owner: str,
        label: str,
        touches: list[int],
        replied: int | None,
    ) -> None:
        """lead.cadence: touches on day 1, 3, 7, 14 after the first, then monthly re-engagement;
        a reply ends it (rules/obligations.py: lead_cadence)."""
        first = touches[0]
        previous = first
        for day in CADENCE_DAYS:
            if replied is not None and replied <= previous:
                return
            touch = next((t for t in touches if t > previous), None)
            self.obligation("lead.cadence", lead_id, owner_id, f"day {day} touch: {label}",
                            previous, first + day * DAY, touch,
                            None if touch is None else owner, key=f"day{day}")  # fmt: skip
            previous = touch if touch is not None else first + day * DAY
        if replied is None or replied > previous:
            touch = next((t for t in touches if t > previous), None)
            self.obligation("lead.cadence", lead_id, owner_id,
                            f"monthly re-engagement: {label}", previous, previous + 30 * DAY,
                            touch, None if touch is None else owner, key="reengage1",
                            detail='{"inactive": true}')  # fmt: skip


def insert(con: sqlite3.Connection, table: str, columns: tuple[str, ...], rows: list) -> None:
    names = ", ".join(f'"{c}"' for c in columns)
    marks = ", ".join("?" * len(columns))
    sql = f'INSERT INTO "{table}" ({names}) VALUES ({marks})'
    for start in range(0, len(rows), BATCH):
        con.executemany(sql, rows[start : start + BATCH])
    rows.clear()


def build_database(db: Path, leads_wanted: int, *, analyze: bool) -> dict[str, float]:
    """`crm init` (migrations, admin, policy), then bulk inserts; returns timings (s)."""
    started = time.perf_counter()
    init = subprocess.run(
        [*crm_command(), "--db", str(db), "init"],
        env=bench_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    if init.returncode != 0:
        raise SystemExit(f"crm init exited {init.returncode}: {init.stderr.strip()}")
    timings = {"init_s": time.perf_counter() - started}
    con = sqlite3.connect(db, isolation_level=None)
    # a throw-away bulk load: no journal, no fsync, a big page cache; WAL again at the end
    con.execute("PRAGMA journal_mode = OFF")
    con.execute("PRAGMA synchronous = OFF")
    con.execute("PRAGMA cache_size = -1000000")  # ~1 GB
    created = stamp(-120 * DAY)
    (admin_id,) = con.execute('SELECT id FROM "user" WHERE name = ?', (ADMIN,)).fetchone()
    con.execute("BEGIN")
    rep_ids = {}
    for i, name in enumerate(REPS):
        territory = json.dumps([COUNTRIES[i % len(COUNTRIES)][0]])
        cursor = con.execute(
            'INSERT INTO "user" (name, role, territories, skills, capacity, active, created_at)'
            " VALUES (?, 'editor', ?, ?, ?, 1, ?)",
            (name, territory, json.dumps([INDUSTRIES[i % 6]]), 20 + i % 3 * 5, created),
        )
        rep_ids[name] = cursor.lastrowid
    campaign_ids = [
        con.execute(
            "INSERT INTO campaign (name, created_at) VALUES (?, ?)", (f"Campaign {i}", created)
        ).lastrowid
        for i in range(1, 9)
    ]
    gen = Generator(leads_wanted, rep_ids, admin_id, campaign_ids)
    for lead_id in range(1, leads_wanted + 1):
        gen.lead(lead_id)
        if len(gen.obligations) >= BATCH or lead_id == leads_wanted:
            insert(con, "lead", LEAD_COLUMNS, gen.leads)
            insert(con, "activity", ACTIVITY_COLUMNS, gen.activities)
            insert(con, "obligation", OBLIGATION_COLUMNS, gen.obligations)
        if lead_id % LEADS_PER_COMMIT == 0 or lead_id == leads_wanted:
            con.execute("COMMIT")
            print(f"  {lead_id:>9,} leads  {time.perf_counter() - started:6.1f} s", flush=True)
            if lead_id != leads_wanted:
                con.execute("BEGIN")
    timings["insert_s"] = time.perf_counter() - started - timings["init_s"]
    if analyze:
        analyzed = time.perf_counter()
        con.execute("ANALYZE")
        timings["analyze_s"] = time.perf_counter() - analyzed
    con.execute("PRAGMA journal_mode = WAL")  # as the program leaves it
    con.close()
    timings["build_s"] = time.perf_counter() - started
    return timings


def data_profile(db: Path) -> dict[str, int]:
    """What the report will find: open obligations due by NOW, in all and per rep."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    now = stamp(0)
    profile = {
        "obligations": con.execute("SELECT count(*) FROM obligation").fetchone()[0],
        "leads": con.execute("SELECT count(*) FROM lead").fetchone()[0],
        "activities": con.execute("SELECT count(*) FROM activity").fetchone()[0],
        "open": con.execute("SELECT count(*) FROM obligation WHERE status = 'open'").fetchone()[0],
        "overdue": con.execute(
            "SELECT count(*) FROM obligation WHERE status = 'open' AND due_at <= ?", (now,)
        ).fetchone()[0],
        "stat1": con.execute(
            "SELECT count(*) FROM sqlite_master WHERE name = 'sqlite_stat1'"
        ).fetchone()[0],
    }
    con.close()
    return profile


def pick_rep(db: Path) -> str:
    """A rep with a typical share of the overdue items: the median one."""
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    rows = con.execute(
        "SELECT u.name, count(*) FROM obligation o JOIN user u ON u.id = o.owner_id"
        " WHERE o.status = 'open' AND o.due_at <= ? AND u.role = 'editor'"
        " GROUP BY u.name ORDER BY 2",
        (stamp(0),),
    ).fetchall()
    con.close()
    return rows[len(rows) // 2][0] if rows else REPS[0]


def query_plans(db: Path, owner: str) -> dict[str, list[str]]:
    """EXPLAIN QUERY PLAN of the SQL `report overdue` runs, caught from the service itself."""
    from sqlalchemy import event

    from crmcli.context import AppContext
    from crmcli.services.reports import overdue
    from crmcli.services.workspace import Workspace

    saved = {k: os.environ.get(k) for k in ("CRM_NOW", "CRM_USER")}
    os.environ.update(CRM_NOW=CRM_NOW, CRM_USER=ADMIN)
    plans: dict[str, list[str]] = {}
    try:
        for label, who in (("full", None), ("owner", owner)):
            ws = Workspace(AppContext(db=str(db), user=ADMIN))
            caught: list[tuple[str, tuple]] = []

            def catch(conn, cursor, statement, parameters, context, executemany, into=caught):  # noqa: ANN001
                if "FROM obligation" in statement:
                    into.append((statement, parameters))

            event.listen(ws.engine, "before_cursor_execute", catch)
            with ws.reading() as tx:
                rows = overdue(tx, owner=who)
                next(rows, None)
                rows.close()
            ws.engine.dispose()
            if not caught:
                continue
            statement, parameters = caught[-1]
            con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            plans[label] = [
                row[-1] for row in con.execute("EXPLAIN QUERY PLAN " + statement, parameters)
            ]
            plans[label + " sql"] = [" ".join(statement.split())]
            con.close()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return plans


# --- measuring ------------------------------------------------------------------------------


CPU: dict[str, list[float]] = {}  # CPU seconds (user + system) of each timed run, by argv


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def time_once(argv: list[str], env: dict[str, str]) -> float:
    """Wall seconds of one run; its CPU seconds (with any worker processes it waited for)
    go to CPU: on a busy machine they show the work when the wall clock shows the load."""
    started, cpu = time.perf_counter(), _children_cpu()
    done = subprocess.run(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    elapsed = time.perf_counter() - started
    CPU.setdefault(" ".join(argv), []).append(_children_cpu() - cpu)
    if done.returncode != 0:
        message = done.stderr.decode(errors="replace").strip().splitlines()
        raise SystemExit(
            f"{' '.join(argv)} exited {done.returncode}: {message[-1] if message else ''}"
        )
    return elapsed


def measure(
    commands: dict[str, list[str]], runs: int, env: dict[str, str]
) -> dict[str, list[float]]:
    for argv in commands.values():  # warm the page cache and __pycache__; not counted
        time_once(argv, env)
    samples: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):  # round-robin, so drift in machine load hits every command alike
        for name, argv in commands.items():
            samples[name].append(time_once(argv, env))
    return samples


# max RSS of a fresh child when /usr/bin/time is missing: `python -c LAUNCHER OUT argv…` runs
# argv as its only child and writes that child's peak (kB) to OUT
LAUNCHER = (
    "import resource, subprocess, sys\n"
    "code = subprocess.call(sys.argv[2:])\n"
    "kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
    "open(sys.argv[1], 'w').write(str(kb))\n"
    "sys.exit(code)\n"
)


def probe(argv: list[str], env: dict[str, str], fmt: str) -> tuple[float, int]:
    """One more run: (peak RSS in MB, rows printed), stdout read and counted here."""
    with tempfile.NamedTemporaryFile(prefix="crm-rss-", delete=False) as report:
        out = Path(report.name)
    gnu_time = Path("/usr/bin/time")
    if gnu_time.exists():
        wrapped = [str(gnu_time), "-v", "-o", str(out), *argv]
    else:
        wrapped = [sys.executable, "-c", LAUNCHER, str(out), *argv]
    rows = 0
    with subprocess.Popen(
        wrapped, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE
    ) as child:
        assert child.stdout is not None
        for line in child.stdout:
            rows += line.startswith(b"{") if fmt == "json" else 1
    if child.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {child.returncode} (memory probe)")
    if fmt == "csv":
        rows = max(rows - 1, 0)  # the header
    text = out.read_text()
    out.unlink()
    found = re.search(r"Maximum resident set size \(kbytes\): (\d+)", text)
    kb = int(found.group(1)) if found else int(text.strip() or 0)
    return kb / 1024, rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads to build (1000000)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per command (5)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--db", type=Path, help="build the database here and keep it")
    where.add_argument("--reuse", type=Path, metavar="PATH", help="use this database as it is")
    parser.add_argument(
        "--no-analyze", action="store_true", help="skip ANALYZE after the build (to compare)"
    )
    args = parser.parse_args()
    args.runs = max(args.runs, 1)
    sys.stdout.reconfigure(line_buffering=True)  # progress in order, also into a log file

    import compileall

    import crmcli

    # time what an install runs: pip byte-compiles a package, an editable checkout with
    # PYTHONDONTWRITEBYTECODE set would recompile every module on every run
    compileall.compile_dir(Path(crmcli.__file__).parent, quiet=1)
    env = bench_env()
    crm = crm_command()

    with tempfile.TemporaryDirectory(prefix="crm-bench-", dir="/tmp") as tmp:
        if args.reuse:
            db = args.reuse
            if not db.exists():
                raise SystemExit(f"--reuse: no database at {db}")
            print(f"database: reusing {db}")
        else:
            db = args.db or Path(tmp) / "overdue.db"
            if db.exists():
                raise SystemExit(f"--db: {db} exists; remove it or pass --reuse {db}")
            print(f"database: building {args.leads:,} leads at {db} …", flush=True)
            built = build_database(db, args.leads, analyze=not args.no_analyze)
            analysis = (
                f", ANALYZE {built['analyze_s']:.1f} s" if "analyze_s" in built else ", no ANALYZE"
            )
            print(
                f"built in {built['build_s']:.1f} s (crm init {built['init_s']:.1f} s, "
                f"generate + insert {built['insert_s']:.1f} s{analysis})"
            )
        size = sum(p.stat().st_size for p in db.parent.glob(db.name + "*"))
        profile = data_profile(db)
        share = profile["overdue"] / max(profile["obligations"], 1)
        print(
            f"{db.name}: {size / 1e6:,.0f} MB; {profile['leads']:,} leads, "
            f"{profile['activities']:,} activities, {profile['obligations']:,} obligations, "
            f"{profile['open']:,} open, {profile['overdue']:,} open and due by CRM_NOW "
            f"({share:.1%}); ANALYZE statistics: {'yes' if profile['stat1'] else 'none'}"
        )
        rep = pick_rep(db)
        print(f"CRM_NOW={CRM_NOW}  CRM_USER={ADMIN}  --owner {rep}  crm = {' '.join(crm)}")
        for label, lines in query_plans(db, rep).items():
            if not label.endswith(" sql"):
                print(f"query plan ({label}): " + " | ".join(lines))

        report = [*crm, "--db", str(db), "report", "overdue"]
        commands = {
            "import typer, sqlmodel (anchor)": [sys.executable, "-c", "import typer, sqlmodel"],
            "overdue --format json": [*report, "--format", "json"],
            f"overdue --owner {rep} --format json": [*report, "--owner", rep, "--format", "json"],
            "overdue --format csv": [*report, "--format", "csv"],
        }
        formats = ("", "json", "json", "csv")
        samples = measure(commands, args.runs, env)
        probes = {
            name: probe(argv, env, fmt)
            for (name, argv), fmt in zip(commands.items(), formats, strict=True)
        }

    width = max(map(len, commands))
    print(
        f"\n{'command':<{width}}  {'median s':>8}  {'min s':>7}  {'cpu s':>6}  {'peak MB':>7}"
        f"  {'rows':>9}   ({args.runs} runs; load average {os.getloadavg()[0]:.1f})"
    )
    for name, values in samples.items():
        rss, rows = probes[name]
        cpu = statistics.median(CPU[" ".join(commands[name])][1:])  # not the warm-up
        shown = f"{rows:9,}" if name != "import typer, sqlmodel (anchor)" else f"{'-':>9}"
        print(
            f"{name:<{width}}  {statistics.median(values):8.2f}  {min(values):7.2f}  "
            f"{cpu:6.2f}  {rss:7.0f}  {shown}"
        )

    names = list(commands)
    verdict = {True: "PASS", False: "MISS"}
    checks = [
        (f"{names[2]} median", statistics.median(samples[names[2]]), OWNER_TARGET_S, "s"),
        (f"{names[1]} median", statistics.median(samples[names[1]]), FULL_TARGET_S, "s"),
        (f"{names[3]} median", statistics.median(samples[names[3]]), FULL_TARGET_S, "s"),
        (f"{names[1]} peak RSS", probes[names[1]][0], RSS_TARGET_MB, "MB"),
        (f"{names[2]} peak RSS", probes[names[2]][0], RSS_TARGET_MB, "MB"),
    ]
    print()
    label_width = max(len(c[0]) for c in checks)
    for label, value, target, unit in checks:
        print(
            f"{label:<{label_width}}  {value:8.2f} {unit:<2}  target < {target:g} {unit:<2}  "
            f"{verdict[value < target]}"
        )
    if probes[names[1]][1] != profile["overdue"]:
        print(
            f"note: the full report printed {probes[names[1]][1]:,} rows, the database has "
            f"{profile['overdue']:,} open obligations due by CRM_NOW"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
