"""crmcli: a command-line CRM that enforces a written sales policy."""

__version__ = "0.1.0"
