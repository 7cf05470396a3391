"""Issue 18, items 1, 2, 3 and 6: obligations that follow the real work, through the CLI.

Each scenario follows the seeds' wording (seed 000: respond, follow up on day 1/3/7/14 "if
no response", then inactive and monthly re-engagement; onboarding, QBRs, renewals; seed 003:
bands and the 48-hour follow-up). Due times are worked out by hand in New York time: the
fixture clock is Friday 2026-03-06 16:30 EST (21:30 UTC); DST starts Sunday 8 March.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import Crm

LATER = {"CRM_NOW": "2026-03-12T15:00:00Z"}  # Thursday 11:00 EDT


def at(crm: Crm, when: str) -> dict[str, str]:
    return {"CRM_NOW": when}


def obligations(crm: Crm, record_id: int, rule: str, record_type: str = "lead") -> list[tuple]:
    """(key, status, due_at) of a record's obligations of one rule, by due time."""
    return crm.rows(
        'SELECT "key", status, due_at FROM obligation WHERE record_type = ? AND record_id = ? '
        "AND rule = ? ORDER BY due_at, id",
        record_type,
        record_id,
        rule,
    )


def statuses(crm: Crm, lead: int) -> dict[str, str]:
    rows = crm.rows(
        "SELECT rule, \"key\", status FROM obligation WHERE record_type = 'lead' AND record_id = ?",
        lead,
    )
    return {f"{rule}:{key}" if key else rule: status for rule, key, status in rows}


def overdue(crm: Crm, *args: str, **env: str) -> list[dict]:
    return crm.ok("report", "overdue", "--format", "json", *args, **env).json()


def tasks(crm: Crm, lead: int) -> list[dict]:
    return crm.dict_rows(
        "SELECT id, subject, status, due_at, done_by FROM activity WHERE type = 'task' "
        "AND lead_id = ? ORDER BY id",
        lead,
    )


def new_lead(crm: Crm, *extra: str, env: dict[str, str] | None = None, **fields: str) -> int:
    """`lead add` at another moment (`env`: the clock), `extra` flags such as --force."""
    values = {"first": "Ada", "last": "Lovelace", "company": "Analytical Engines",
              "email": "ada@example.com", "source": "web"} | fields  # fmt: skip
    args = [arg for key, value in values.items() for arg in (f"--{key}", value)]
    return int(crm.ok("lead", "add", *args, *extra, **(env or {})).out)


def win(crm: Crm, lead: int, **env: str) -> None:
    """Through the stages to closed won: a quote for the proposal, a PO to close."""
    for stage in ("qualification", "needs_analysis"):
        crm.ok("advance", str(lead), stage, **env)
    quote = crm.ok("quote", "new", str(lead), **env).out.strip()
    crm.ok("quote", "line", quote, "--product", "Router", "--qty", "1", "--price", "9000", **env)
    crm.ok("quote", "submit", quote, **env)
    for stage in ("proposal", "negotiation"):
        crm.ok("advance", str(lead), stage, **env)
    crm.ok("advance", str(lead), "closed_won", "--po", "PO-1", **env)


def bant(total: int) -> list[str]:
    parts = [total // 4] * 4
    parts[0] += total - sum(parts)
    names = ("--budget", "--authority", "--need", "--timeline")
    return [arg for name, value in zip(names, parts, strict=True) for arg in (name, str(value))]


# --- 1. what counts as what ---------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        ["log-email", "{lead}", "--inbound", "--subject", "Re: hello"],
        ["log-call", "{lead}", "--inbound", "--outcome", "voicemail"],
        ["log-chat", "{lead}", "--inbound", "--notes", "sounds good"],
        ["log-call", "{lead}", "--outcome", "connected"],
        ["log-meeting", "{lead}", "--attendee", "Ada"],
    ],
    ids=["inbound email", "inbound call", "inbound chat", "connected call", "held meeting"],
)
def test_a_reply_ends_the_no_reply_cadence(team: Crm, reply: list[str]) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("log-call", str(lead), "--outcome", "no-answer", user="ed")  # Friday 16:30 EST
    # day 1 falls on Saturday: Monday 09:00 EDT; day 3 is Monday 16:30 EDT
    assert obligations(team, lead, "lead.cadence")[:2] == [
        ("day1", "open", "2026-03-09 13:00:00.000000"),
        ("day3", "open", "2026-03-09 20:30:00.000000"),
    ]
    monday_10 = at(team, "2026-03-09T14:00:00Z")
    team.ok(*[part.format(lead=lead) for part in reply], user="ed", **monday_10)
    # day 1 was missed before the reply (a breach that can no longer be made up); nothing
    # after it is owed: day 3 on were never due
    found = obligations(team, lead, "lead.cadence")
    if "connected" in reply or "log-meeting" in reply:
        assert found[0][:2] == ("day1", "met")  # a conversation is an attempt too: late
    else:
        assert found[0][:2] == ("day1", "lapsed")
    assert {status for _key, status, _due in found[1:]} == {"cancelled"}
    assert [r for r in overdue(team, **LATER) if r["rule"] == "lead.cadence"] == []
    ticked = team.ok("tick", "--format", "json", **LATER).json()
    assert [a for a in ticked if "touch" in a["detail"]] == []
    assert [t for t in tasks(team, lead) if "touch" in t["subject"]] == []


def test_a_reply_closes_the_reminders_tick_made(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("log-call", str(lead), "--outcome", "voicemail", user="ed")
    tuesday = at(team, "2026-03-10T14:00:00Z")  # day 1 (Monday 09:00) and day 3 are overdue
    made = team.ok("tick", "--format", "json", **tuesday).json()
    # a reminder for each touch whose window has opened: day 7's opened at day 3's due
    assert [a["detail"].split(": ")[1] for a in made] == ["day 1 touch", "day 3 touch",
                                                          "day 7 touch"]  # fmt: skip
    team.ok("log-email", str(lead), "--inbound", "--subject", "call me", user="ed", **tuesday)
    assert {t["status"] for t in tasks(team, lead)} == {"cancelled"}  # at once, not next tick
    assert team.ok("tick", "--format", "json", **tuesday).json() == []


def test_a_contact_meets_the_score_bands_contact_task(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("score", str(lead), *bant(70))  # immediate sales contact: 1 business hour
    [task] = tasks(team, lead)
    assert task["subject"] == "Contact now (immediate_sales band)"
    assert task["due_at"] == "2026-03-09 13:30:00.000000"  # Monday 09:30 EDT
    # a voicemail is an attempt, not the contact the band asks for
    team.ok("log-call", str(lead), "--outcome", "voicemail", user="ed",
            **at(team, "2026-03-06T21:40:00Z"))  # fmt: skip
    assert tasks(team, lead)[0]["status"] == "open"
    # 20 minutes after scoring, a connected call: the task is done, its obligation met
    team.ok("log-call", str(lead), "--outcome", "connected", user="ed",
            **at(team, "2026-03-06T21:50:00Z"))  # fmt: skip
    [task] = tasks(team, lead)
    assert (task["status"], task["done_by"]) == ("done", "ed")
    [(key, status, _due)] = obligations(team, lead, "task.due")
    assert (key, status) == (str(task["id"]), "met")
    assert overdue(team, **at(team, "2026-03-09T16:00:00Z")) == []
    done = team.rows(
        "SELECT changes FROM audit_event WHERE record_type = 'activity' AND record_id = ? "
        "AND action = 'done'",
        task["id"],
    )
    assert json.loads(done[0][0])["met_with"] == [None, 3]  # the connected call


def test_explain_shows_which_activity_met_which_obligation(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("log-call", str(lead), "--outcome", "connected", "--notes", "hello", user="ed")
    data = team.ok("explain", str(lead), "--format", "json").json()
    met = {row["rule"]: row for row in data["settled"]}
    assert met["lead.first_response"]["met_with"] == "call 1 (outbound, connected)"
    assert met["lead.first_response"]["activity_id"] == 1
    assert met["lead.first_response"]["late"] is False
    assert met["lead.follow_up"]["met_with"] == "call 1 (outbound, connected)"
    table = team.ok("explain", str(lead)).out
    assert "met or ended" in table and "call 1 (outbound, connected)" in table


def test_an_inbound_connected_call_is_a_contact(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("log-call", str(lead), "--inbound", "--outcome", "no-answer", user="ed")
    assert statuses(team, lead)["lead.first_response"] == "open"  # they called, we missed it
    team.ok("log-call", str(lead), "--inbound", "--outcome", "connected", user="ed")
    assert statuses(team, lead)["lead.first_response"] == "met"  # a real conversation


def test_touches_table_decides_what_meets_a_rule(team: Crm, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('[touches.meets]\n"band.contact" = ["attempt", "contact"]\n')
    team.ok("policy", "import", str(policy))
    lead = team.add_lead(owner="ed")
    team.ok("score", str(lead), *bant(70))
    team.ok("log-call", str(lead), "--outcome", "voicemail", user="ed")
    assert tasks(team, lead)[0]["status"] == "done"  # this policy counts an attempt


def test_policy_shows_and_checks_the_touches_table(crm: Crm, tmp_path: Path) -> None:
    shown = crm.ok("policy", "show", "--format", "json").json()
    assert shown["touches"]["contact"] == ["call:connected", "chat:outbound", "meeting"]
    assert shown["touches"]["meets"]["band.contact"] == ["contact"]
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[touches]\nattempt = ["call:outbound"]\ncontact = ["call:busy"]\n'
        '[touches.meets]\n"band.contact" = ["talk"]\n'
    )
    run = crm("policy", "check", str(bad))
    assert run.code == 2
    assert f"{bad}:3: touches.contact[0]: 'call:busy': 'busy' is not one of" in run.err
    assert f"{bad}:5: touches.meets.\"band.contact\"[0]: 'talk' is not a kind" in run.err
    unknown = tmp_path / "unknown.toml"
    unknown.write_text('[touches.meets]\n"lead.entry" = ["attempt"]\n')
    assert "touches.meets" in crm("policy", "check", str(unknown)).err
    examples = Path(__file__).parent.parent / "examples" / "policies"
    assert "[touches.meets]" in (examples / "default.toml").read_text()
    for name in ("default.toml", "four-stage.toml", "chartec.toml", "automation.toml"):
        crm.ok("policy", "check", str(examples / name))


# --- 2. closing closes the work -------------------------------------------------------------


def busy_lead(crm: Crm) -> int:
    """A lead with every kind of open work: a follow-up, cadence touches, a band's contact
    task and a next step."""
    lead = crm.add_lead()
    crm.ok("log-call", str(lead), "--outcome", "voicemail")  # first response; cadence starts
    five_past = at(crm, "2026-03-06T21:35:00Z")
    crm.ok("assign", str(lead), "--to", "ed", **five_past)  # the 48-hour follow-up starts
    crm.ok("score", str(lead), *bant(70), **five_past)
    crm.ok("next-step", str(lead), "send the brochure", "--due", "2026-03-11 10:00", user="ed",
           **five_past)  # fmt: skip
    assert {"open"} <= set(statuses(crm, lead).values())
    return lead


def test_closing_lost_cancels_the_leads_open_work(team: Crm) -> None:
    lead = busy_lead(team)
    team.ok("advance", str(lead), "closed_lost", "--lost-reason", "no budget", user="ed",
            **at(team, "2026-03-06T21:40:00Z"))  # fmt: skip
    found = statuses(team, lead)
    assert "open" not in found.values()
    assert found["lead.follow_up"] == "cancelled" and found["lead.cadence:day1"] == "cancelled"
    assert found["lead.first_response"] == "met" and found["lead.entry"] == "met"
    assert {t["status"] for t in tasks(team, lead)} == {"cancelled"}
    listed = overdue(team, "--due-within", "90d", **LATER)
    assert [r for r in listed if r["record_type"] == "lead"] == []
    reasons = team.rows(
        "SELECT changes FROM audit_event WHERE record_type = 'activity' AND action = 'update'"
    )
    assert {json.loads(r[0])["reason"][1] for r in reasons} == {"lead lost"}


def test_winning_cancels_the_sales_work_and_keeps_onboarding(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("log-call", str(lead), "--outcome", "voicemail", user="ed")
    team.ok("score", str(lead), *bant(80))
    win(team, lead)
    found = statuses(team, lead)
    assert {rule for rule, status in found.items() if status == "open"} == set()
    open_tasks = [t["subject"] for t in tasks(team, lead) if t["status"] == "open"]
    assert open_tasks and all(s.startswith("Onboarding: ") for s in open_tasks)
    assert {r["rule"] for r in overdue(team, "--due-within", "90d")} == {"account.onboarding"}


def test_nurture_cancels_the_leads_work(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("log-call", str(lead), "--outcome", "voicemail", user="ed")
    team.ok("score", str(lead), *bant(10), **at(team, "2026-03-06T21:45:00Z"))  # nurture band
    assert "open" not in {
        status for rule, status in statuses(team, lead).items() if rule != "opportunity.stale"
    }
    assert [r["rule"] for r in overdue(team, "--due-within", "90d", **LATER)] == []


def test_inactive_leads_missed_follow_ups_lapse_and_leave_the_report(team: Crm) -> None:
    lead = busy_lead(team)
    future = team.ok("next-step", str(lead), "call again", "--due", "2026-03-30 10:00",
                     "--format", "json", user="ed").json()  # fmt: skip
    # no answer to anything: day 14 (Friday 20 March 16:30 EDT) passes; the tick on
    # Wednesday 25 March makes the lead inactive
    late = at(team, "2026-03-25T14:00:00Z")
    before = {r["rule"] for r in overdue(team, **late)}
    assert {"lead.cadence", "lead.follow_up", "task.due"} <= before  # on today's main: forever
    actions = team.ok("tick", "--format", "json", **late).json()
    assert {"action": "inactive", "record": f"lead {lead}"} in [
        {k: a[k] for k in ("action", "record")} for a in actions
    ]
    found = statuses(team, lead)
    assert found["lead.follow_up"] == "lapsed"  # due Monday 9 March 09:00, never met
    assert {found[f"lead.cadence:day{d}"] for d in (1, 3, 7, 14)} == {"lapsed"}
    assert found[f"task.due:{future['id']}"] == "cancelled"  # not due yet: no breach
    assert found["lead.cadence:reengage1"] == "open"  # monthly re-engagement goes on
    assert overdue(team, **late) == []
    soon = overdue(team, "--due-within", "40d", **late)
    assert [(r["rule"], r["title"].split(":")[0]) for r in soon] == [
        ("lead.cadence", "monthly re-engagement")
    ]
    still = [t["subject"] for t in tasks(team, lead) if t["status"] == "open"]
    assert still == ["monthly re-engagement"]  # tick's reminder of what it is still owed


def test_merge_cancels_the_merged_leads_duplicate_obligations(team: Crm) -> None:
    keep = team.add_lead(owner="ed")
    other = new_lead(team, "--force", email="countess@example.com")
    team.ok("lead", "merge", str(keep), str(other), "--prefer", "keep", user="ed")
    # OTHER's first response is KEEP's too: not deleted, cancelled, and marked so
    rows = team.rows(
        "SELECT status, detail FROM obligation WHERE record_id = ? AND rule = "
        "'lead.first_response'",
        other,
    )
    assert [(status, json.loads(detail)["merged_into"]) for status, detail in rows] == [
        ("cancelled", keep)
    ]
    assert {r["record_id"] for r in overdue(team, **LATER)} == {keep}


# --- 3. people's work lands in working hours --------------------------------------------------


def test_a_deal_won_at_night_on_a_saturday_schedules_onboarding_in_working_hours(
    team: Crm,
) -> None:
    lead = team.add_lead(owner="ed")
    team.ok("score", str(lead), *bant(80))
    win(team, lead, **at(team, "2026-03-07T07:58:00Z"))  # Saturday 02:58 EST
    found = [(t["subject"], t["due_at"]) for t in tasks(team, lead) if "Onboarding" in t["subject"]]
    assert found == [
        # day 2: Monday 02:58 -> the opening, 09:00 EDT
        ("Onboarding: Kick-off call", "2026-03-09 13:00:00.000000"),
        # day 7 and day 14 are Saturdays -> Monday 09:00
        ("Onboarding: Technical setup", "2026-03-16 13:00:00.000000"),
        ("Onboarding: Training", "2026-03-23 13:00:00.000000"),
        # day 30: Monday 6 April 02:58 -> 09:00
        ("Onboarding: 30-day success review", "2026-04-06 13:00:00.000000"),
    ]
    [account] = team.rows("SELECT account_id FROM lead WHERE id = ?", lead)
    plan = [o for o in obligations(team, account[0], "account.onboarding", "account")]
    assert ("plan", "open", "2026-04-06 13:00:00.000000") in plan


def test_qbr_keeps_the_local_time_across_dst(team: Crm) -> None:
    monday_10_est = at(team, "2026-01-05T15:00:00Z")
    account = int(team.ok("account", "add", "--name", "Acme", "--key", "--owner", "ed",
                          **monday_10_est).out)  # fmt: skip
    # 13 weeks later: Monday 6 April 10:00 EDT (14:00 UTC), not 11:00 EDT
    assert obligations(team, account, "account.qbr", "account") == [
        ("", "open", "2026-04-06 14:00:00.000000")
    ]


def test_cadence_touches_after_a_night_call_fall_due_at_the_opening(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    night = at(team, "2026-03-10T06:00:00Z")
    team.ok("log-call", str(lead), "--outcome", "no-answer", "--at", "2026-03-10 01:35",
            user="ed", **night)  # fmt: skip
    assert [(k, due) for k, _s, due in obligations(team, lead, "lead.cadence")][:4] == [
        ("day1", "2026-03-11 13:00:00.000000"),  # Wednesday 01:35 -> 09:00 EDT
        ("day3", "2026-03-13 13:00:00.000000"),  # Friday
        ("day7", "2026-03-17 13:00:00.000000"),  # Tuesday
        ("day14", "2026-03-24 13:00:00.000000"),  # Tuesday
    ]


def test_a_follow_up_over_a_holiday_weekend_waits_for_the_next_working_day(team: Crm) -> None:
    friday = at(team, "2026-05-22T20:30:00Z")  # Friday before Memorial Day, 16:30 EDT
    lead = new_lead(team, env=friday)
    team.ok("assign", str(lead), "--to", "ed", **friday)
    # 48 h: Sunday 16:30; Monday 25 May is Memorial Day: Tuesday 09:00 EDT
    assert obligations(team, lead, "lead.follow_up") == [("", "open", "2026-05-26 13:00:00.000000")]


def test_at_puts_a_rules_work_at_a_fixed_local_time(team: Crm, tmp_path: Path) -> None:
    policy = tmp_path / "p.toml"
    policy.write_text('[rules."lead.cadence"]\nat = "10:00"\n')
    team.ok("policy", "import", str(policy))
    lead = team.add_lead(owner="ed")
    team.ok("log-call", str(lead), "--outcome", "no-answer", user="ed")  # Friday 16:30
    dues = [due for _k, _s, due in obligations(team, lead, "lead.cadence")]
    # day 1: Saturday -> Monday's opening (the fixed time lies on a closed day); then 10:00
    assert dues[:3] == [
        "2026-03-09 13:00:00.000000",
        "2026-03-09 14:00:00.000000",
        "2026-03-13 14:00:00.000000",
    ]


def test_customer_promises_keep_their_exact_business_clock(team: Crm) -> None:
    lead = team.add_lead()
    # one business hour after Friday 16:30: Monday 09:30, not snapped to the opening
    assert obligations(team, lead, "lead.first_response") == [
        ("", "open", "2026-03-09 13:30:00.000000")
    ]


def test_follow_up_band_task_lands_in_business_hours(team: Crm) -> None:
    lead = team.add_lead(owner="ed")
    evening = at(team, "2026-03-06T23:30:00Z")  # Friday 18:30 EST
    team.ok("score", str(lead), *bant(45), **evening)
    # 3 days: Monday 18:30 EDT, after closing -> Tuesday 09:00 EDT
    assert [t["due_at"] for t in tasks(team, lead)] == ["2026-03-10 13:00:00.000000"]


# --- 6. accounts behave like accounts --------------------------------------------------------


def test_a_renewal_opportunity_meets_the_renewal_whatever_the_leads_age(team: Crm) -> None:
    october = at(team, "2025-10-01T14:00:00Z")
    account = int(team.ok("account", "add", "--name", "Acme Corp", "--contract-end",
                          "2026-06-30", "--owner", "ed", **october).out)  # fmt: skip
    lead = new_lead(team, company="Acme Corp", owner="ed", env=october)
    team.ok("score", str(lead), *bant(70), **october)
    # the renewal window opens 180 days before the end (2026-01-01); today is inside it
    team.ok("advance", str(lead), "qualification", "--type", "renewal", user="ed")
    assert team.rows("SELECT account_id FROM lead WHERE id = ?", lead) == [(account,)]
    [(key, status, due)] = obligations(team, account, "account.renewal", "account")
    # 90 days before 00:00 of 30 June: 00:00 of Wednesday 1 April -> 09:00 EDT
    assert (key, status, due) == ("2026-06-30", "met", "2026-04-01 13:00:00.000000")


def eml(path: Path, sender: str, to: str, date: str, subject: str, mid: str) -> Path:
    path.write_text(
        f"From: {sender}\nTo: {to}\nDate: {date}\nSubject: {subject}\nMessage-ID: <{mid}>\n"
        "Content-Type: text/plain; charset=utf-8\n\nHello\n",
        encoding="utf-8",
    )
    return path


def test_mail_from_an_accounts_contact_owes_the_account_an_answer(
    team: Crm, tmp_path: Path
) -> None:
    account = int(team.ok("account", "add", "--name", "Acme", "--key", "--owner", "ed",
                          **at(team, "2026-01-05T15:00:00Z")).out)  # fmt: skip
    contact = int(team.ok("contact", "add", "--account", str(account), "--first", "Grace",
                          "--last", "Hopper", "--email", "grace@acme.example").out)  # fmt: skip
    inbox = tmp_path / "in"
    inbox.mkdir()
    eml(inbox / "1.eml", "Grace Hopper <grace@acme.example>", "ed@us.example",
        "Mon, 09 Mar 2026 10:00:00 -0400", "Broken pump", "q1@acme.example")  # fmt: skip
    summary = team.ok("mail", "import", str(inbox), "--format", "json",
                      **at(team, "2026-03-09T14:30:00Z")).json()  # fmt: skip
    assert summary["unmatched"] == [] and summary["logged"] == 1
    assert team.rows(
        "SELECT lead_id, contact_id, direction, user_id FROM activity WHERE type = 'email'"
    ) == [(None, contact, "inbound", 2)]  # the account owner's (ed is user 2)
    # 4 business hours after Monday 10:00 EDT: 14:00 EDT, owned by the account's owner
    rows = overdue(team, "--owner", "ed", **at(team, "2026-03-09T19:00:00Z"))
    assert [(r["rule"], r["record_type"], r["record_id"], r["due_at"]) for r in rows] == [
        ("customer.response", "account", account, "2026-03-09T14:00:00-04:00")
    ]
    answer = tmp_path / "out"
    answer.mkdir()
    eml(answer / "2.eml", "ed@us.example", "grace@acme.example",
        "Mon, 09 Mar 2026 15:10:00 -0400", "Re: Broken pump", "a1@us.example")  # fmt: skip
    team.ok("mail", "import", str(answer), **at(team, "2026-03-09T19:30:00Z"))
    assert obligations(team, account, "customer.response", "account") == [
        ("1", "met", "2026-03-09 18:00:00.000000")
    ]
    team.ok("contact", "forget", str(contact), "--yes")  # the mail's texts go with the contact
    assert team.rows("SELECT subject, notes FROM activity WHERE contact_id = ?", contact) == [
        (None, None),
        (None, None),
    ]


def test_customer_response_never_reaches_back_before_the_win(team: Crm) -> None:
    autumn = at(team, "2025-11-20T15:00:00Z")
    lead = new_lead(team, owner="ed", env=at(team, "2025-11-01T15:00:00Z"))
    team.ok("log-call", str(lead), "--inbound", "--outcome", "voicemail", user="ed", **autumn)
    team.ok("log-call", str(lead), "--outcome", "connected", user="ed",
            **at(team, "2025-11-20T16:00:00Z"))  # fmt: skip
    team.ok("score", str(lead), *bant(80))
    win(team, lead)  # Friday 6 March 2026: now a customer
    assert obligations(team, lead, "customer.response") == []
    assert [r for r in overdue(team) if r["rule"] == "customer.response"] == []
    # a message after the win is owed an answer: 4 business hours from Monday 10:00 EDT
    team.ok("log-email", str(lead), "--inbound", "--subject", "invoice?", user="ed",
            **at(team, "2026-03-09T14:00:00Z"))  # fmt: skip
    assert obligations(team, lead, "customer.response") == [
        ("1", "open", "2026-03-09 18:00:00.000000")
    ]
