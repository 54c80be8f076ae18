"""Mail we send: composing from templates (`compose`, pure), SMTP (`smtp`, the only user of
aiosmtplib) and the outbox with its drain (`outbox`, orchestration). May import the data
modules, `completeness` (categories, secret names), and for the outbox `desk`'s context and
ticket writes and `store`.
"""
