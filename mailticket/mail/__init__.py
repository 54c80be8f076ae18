"""Reading one raw mail: everything between the bytes a customer's client sent and the plain
`InboundMail` the desk works on.

Owns: the MIME tree (`feed`, `mime`: walking every part, attachments, forwarded `message/rfc822`
parts), charsets (`charsets`: detection and decoding, lying labels included), header values
(`headers`: encoded words, addresses, Message-IDs, dates), HTML to text (`html`), what an
attachment is (`attachments`), quoted history and signatures (`quotes`), agents' forwards
(`forwards`) and delivery reports (`dsn`). `parse.parse` is the entry.

May import: only `mailticket.model`, `mailticket.errors`, the standard library and its parsing
libraries (charset-normalizer). Nothing here touches the network, the disk or the clock, so it
is pure logic that the rest of the package can call anywhere.
"""
