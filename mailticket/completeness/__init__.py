"""Completeness of a complaint: rule files, normalisers, extraction, scoring, and the guards
(redaction of secrets, abusive language). Pure: imports only the data modules
(`model`, `errors`, `toml_lines`) and `mail`.
"""
