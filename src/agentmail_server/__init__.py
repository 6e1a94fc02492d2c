"""Self-hosted email API server speaking AgentMail's /v0 protocols."""

__version__ = "0.1.0"
