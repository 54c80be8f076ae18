"""The application: CLI, daemon (the only user of `schedule`), views and the demo. Nothing
imports it.
"""
