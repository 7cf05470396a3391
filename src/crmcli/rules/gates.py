"""Stage gates: may a record move to a stage, and if not, what is missing (SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from crmcli.rules.policy import Policy

# what each requirement means, and the flag that supplies it
REQUIREMENTS = {
    "score": ("a BANT score", "crm score ID --budget … --authority … --need … --timeline …"),
    # a real quote in the CRM (seed 002), past draft: submitted, approved, sent or accepted
    "quote": (
        "a submitted quote",
        "crm quote new ID, crm quote line QUOTE …, crm quote submit QUOTE",
    ),
    "po_number": ("a PO number", "--po NUMBER"),
    "lost_reason": ("a lost reason", "--lost-reason TEXT"),
    "next_step": ("a scheduled next step", "crm next-step ID TEXT --due WHEN"),
    "prospect_said_no": ("the prospect's own no", "--prospect-said-no"),
    # every won stage needs it (a won deal worth 0 is a data error), listed or not
    "amount": ("a non-zero amount", "crm lead edit ID --amount AMOUNT (or --amount here)"),
}


@dataclass(frozen=True)
class GateFacts:
    stage: str
    score: int | None = None
    quote_ref: str | None = None  # the number of the record's submitted (or later) quote
    po_number: str | None = None
    lost_reason: str | None = None
    has_next_step: bool = False
    prospect_said_no: bool = False
    amount: Decimal | None = None

    def has(self, requirement: str) -> bool:
        return {
            "score": self.score is not None,
            "quote": bool(self.quote_ref),
            "po_number": bool(self.po_number),
            "lost_reason": bool(self.lost_reason),
            "next_step": self.has_next_step,
            "prospect_said_no": self.prospect_said_no,
            "amount": self.amount is not None and self.amount > 0,
        }[requirement]


@dataclass(frozen=True)
class GateResult:
    allowed: bool
    reasons: tuple[str, ...] = ()  # why not, each naming the policy rule
    missing: tuple[str, ...] = ()  # requirement keys not met
    skipped: tuple[str, ...] = ()  # stages jumped over (allowed ones)


def is_outcome(policy: Policy, stage: str) -> bool:
    return "outcome" in (policy.stage(stage) or {})


def check_move(policy: Policy, facts: GateFacts, target: str) -> GateResult:
    """Whether `facts` (a record with any values given on this move) may enter `target`."""
    keys = policy.stage_keys()
    if facts.stage not in keys:
        return GateResult(
            False,
            (
                f"it is in stage {facts.stage!r}, which the policy in force "
                f"does not have (stages: {', '.join(keys)})",
            ),
        )
    current, wanted = keys.index(facts.stage), keys.index(target)
    target_stage = policy.stages[wanted]
    if is_outcome(policy, facts.stage):
        return GateResult(False, (f"it is closed ({facts.stage}); closed records do not move",))
    reasons: list[str] = []
    skipped: list[str] = []
    lost = target_stage.get("outcome") == "lost"
    if wanted > current + 1 and not lost:
        jumped = [s for s in policy.stages[current + 1 : wanted] if "outcome" not in s]
        skipped = [s["key"] for s in jumped]
        not_skippable = [
            s["key"] for s in jumped if not (s.get("skippable") or policy.pipeline.allow_skip)
        ]
        if not_skippable:
            reasons.append(
                f"it would skip {', '.join(not_skippable)} (policy pipeline.allow_skip is off "
                "and those stages are not skippable)"
            )
    missing = tuple(need for need in requirements(target_stage) if not facts.has(need))
    listed = target_stage.get("requires", [])
    for need in missing:
        what, how = REQUIREMENTS[need]
        where = "requires" if need in listed else "outcome = won"
        reasons.append(
            f"{target} requires {what} (policy pipeline.stages[{wanted}].{where}); give {how}"
        )
    return GateResult(not reasons, tuple(reasons), missing, tuple(skipped))


def requirements(stage: dict) -> list[str]:
    """What entering `stage` needs: its `requires`, and a non-zero amount for a won stage."""
    needs = list(stage.get("requires", []))
    if stage.get("outcome") == "won" and "amount" not in needs:
        needs.append("amount")
    return needs


def next_stage(policy: Policy, stage: str) -> str | None:
    """The next open-or-won stage after `stage` (never the lost outcome)."""
    keys = policy.stage_keys()
    if stage not in keys:
        return None
    for candidate in policy.stages[keys.index(stage) + 1 :]:
        if candidate.get("outcome") != "lost":
            return candidate["key"]
    return None


def opportunity_types(policy: Policy) -> list[str]:
    """The policy's opportunity types (seed 004); empty allows any."""
    return list(policy.pipeline.opportunity_types)


def normalise_type(policy: Policy, raw: str, *, field: str = "--type") -> str:
    """The policy's spelling of a type given in any case; BadInput naming the allowed ones."""
    from crmcli.errors import BadInput

    text = " ".join(raw.split())
    allowed = opportunity_types(policy)
    if not text:
        raise BadInput(f"{field}: empty; give an opportunity type")
    if not allowed:
        return text
    for kind in allowed:
        if kind.lower() == text.lower():
            return kind
    raise BadInput(
        f"{field}: {raw!r} is not an opportunity type of the policy; use one of "
        f"{', '.join(allowed)} (policy pipeline.opportunity_types)"
    )


def type_required(policy: Policy, target: str) -> bool:
    """Entering an opportunity stage (not a lost outcome) needs a type when types are listed."""
    keys = policy.stage_keys()
    start = policy.pipeline.opportunity_from
    if not opportunity_types(policy) or target not in keys or start not in keys:
        return False
    stage = policy.stages[keys.index(target)]
    return keys.index(target) >= keys.index(start) and stage.get("outcome") != "lost"
