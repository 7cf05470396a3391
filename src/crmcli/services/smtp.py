"""SMTP delivery with the standard library: settings from the policy and CRM_SMTP_* env,
the password only from the environment or a private file, one connection per run."""

from __future__ import annotations

import smtplib
import ssl
import stat
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from pathlib import Path
from types import TracebackType
from typing import Any

from crmcli import environment
from crmcli.errors import BadInput, NotPermitted
from crmcli.files import SECRET_LIMIT, read_text
from crmcli.rules.policy import Policy


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    security: str  # none | starttls | ssl
    user: str
    sender: str
    password: str | None = None
    timeout: float = environment.DEFAULT_SMTP_TIMEOUT  # seconds: connect, and each command

    @property
    def address(self) -> str:
        """The bare address of `from` ("Sales <sales@example.com>" -> sales@example.com)."""
        return parseaddr(self.sender)[1]

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2] or "crmcli.invalid"


OVERRIDABLE = ("host", "port", "security", "user", "from")


def settings_from(policy: Policy, *, require: bool = False, admin: bool = True) -> SmtpSettings:
    """[smtp] of the (stored) policy, each key overridden by CRM_SMTP_<KEY> when the acting
    user is an admin. Anyone else gets the stored settings: sending (`require`) with such a
    variable set is refused (exit 4) rather than silently done otherwise. `require` checks
    that everything needed to send is there (and reads the password: a credential, not a
    setting)."""
    configured = policy.smtp.as_dict()
    if not admin and require:
        for key in OVERRIDABLE:
            if environment.smtp_override(key) is not None:
                raise NotPermitted(
                    f"CRM_SMTP_{key.upper()}: only an admin may send other than as the stored "
                    "[smtp] says; unset it, or ask an admin to change the policy (crm policy "
                    "import)"
                )

    def setting(key: str) -> str:
        # a variable that is set wins even when empty: CRM_SMTP_USER= turns login off
        value = environment.smtp_override(key) if admin else None
        return str(configured[key] if value is None else value).strip()

    settings = SmtpSettings(
        host=setting("host"),
        port=environment.smtp_port(setting("port")),
        security=environment.smtp_security(setting("security")),
        user=setting("user"),
        sender=setting("from"),
        timeout=environment.smtp_timeout(),
    )
    if not require:
        return settings
    if not settings.host:
        raise BadInput("smtp.host: no SMTP server; set [smtp] host in the policy or CRM_SMTP_HOST")
    if "@" not in settings.address:
        raise BadInput(
            "smtp.from: no sender address; set [smtp] from in the policy or CRM_SMTP_FROM"
        )
    password = read_password() if settings.user else None
    if settings.user and password is None:
        raise BadInput(
            f"CRM_SMTP_PASSWORD: [smtp] user is {settings.user!r}; give its password in "
            "CRM_SMTP_PASSWORD or CRM_SMTP_PASSWORD_FILE (a file of mode 0600)"
        )
    return SmtpSettings(**{**settings.__dict__, "password": password})


def read_password() -> str | None:
    password = environment.get("CRM_SMTP_PASSWORD")
    if password:
        return password
    name = environment.get("CRM_SMTP_PASSWORD_FILE")
    if not name:
        return None
    path = Path(name)
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise BadInput(
                f"CRM_SMTP_PASSWORD_FILE: {path} is open to others (mode "
                f"{stat.S_IMODE(mode):04o}); make it private with: chmod 600 {path}"
            )
        return read_text(path, option="CRM_SMTP_PASSWORD_FILE", limit=SECRET_LIMIT).strip()
    except OSError as exc:
        raise BadInput(f"CRM_SMTP_PASSWORD_FILE: cannot read {path}: {exc.strerror}") from None


def new_message_id(settings: SmtpSettings) -> str:
    return make_msgid(idstring="crm", domain=settings.domain)


def build(message: Any, settings: SmtpSettings, *, now: datetime) -> EmailMessage:
    """The RFC 5322 message for an outbox row."""
    email = EmailMessage()
    email["From"] = settings.sender
    email["To"] = Address(addr_spec=message.to_address)
    email["Subject"] = message.subject
    email["Date"] = format_datetime(now)
    email["Message-ID"] = message.message_id
    email["Auto-Submitted"] = "auto-generated"  # RFC 3834: autoresponders must not answer
    email["X-CRM-Outbox"] = str(message.id)
    email.set_content(message.body)
    return email


class Connection:
    """Opened on the first message; a failure to connect is fatal for the run (the other
    messages are left queued, untouched), a refused message is not."""

    def __init__(self, settings: SmtpSettings) -> None:
        self.settings = settings
        self.client: smtplib.SMTP | None = None

    def __enter__(self) -> Connection:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (smtplib.SMTPException, OSError):
                self.client.close()

    def _open(self) -> smtplib.SMTP:
        s = self.settings
        context = ssl.create_default_context()
        if s.security == "ssl":
            client: smtplib.SMTP = smtplib.SMTP_SSL(
                s.host, s.port, timeout=s.timeout, context=context
            )
        else:
            client = smtplib.SMTP(s.host, s.port, timeout=s.timeout)
            if s.security == "starttls":
                client.starttls(context=context)
        if s.user:
            client.login(s.user, s.password or "")
        return client

    def send(self, email: EmailMessage) -> tuple[str, str | None]:
        """(sent | failed | unknown | fatal, error). `unknown`: the connection broke mid-way,
        so the server may have the message; `fatal`: no connection, the run stops."""
        if self.client is None:
            try:
                self.client = self._open()
            except (smtplib.SMTPException, OSError) as exc:
                return (
                    "fatal",
                    f"cannot connect to {self.settings.host}:{self.settings.port}: {exc}",
                )
        try:
            refused = self.client.send_message(email)
        except smtplib.SMTPRecipientsRefused as exc:
            return "failed", f"recipient refused: {_reasons(exc.recipients)}"
        except (smtplib.SMTPDataError, smtplib.SMTPSenderRefused) as exc:
            return "failed", f"refused: {exc.smtp_code} {_text(exc.smtp_error)}"
        except (smtplib.SMTPException, OSError) as exc:
            self.client = None
            return "unknown", f"connection lost while sending: {exc}"
        if refused:
            return "failed", f"recipient refused: {_reasons(refused)}"
        return "sent", None


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


def _reasons(recipients: dict[str, Any]) -> str:
    return "; ".join(f"{addr} {code} {_text(text)}" for addr, (code, text) in recipients.items())
