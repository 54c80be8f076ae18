"""The ticket desk: threading, decisions, agents' commands and authentication, the SLA clock
and the business calendar (pure modules), and the orchestration of tickets, agents' mail,
the sweep and the digest (`context`, `tickets`, `agent_mail`, `sweep`, `digest`), which may
also import `store` and `outbound`; the pure modules import only the data modules, `mail`
and `completeness`.
"""
