"""Mail coming in: IMAP (`imap`, the only user of imap-tools), recording one mail
(`record`), bounces, and the intake cycles. The top of the flow: may import every package
but `app`.
"""
