"""Reading a raw mail: MIME and charsets, HTML to text, quoted history and signatures,
forwards, delivery reports. Pure: imports only `mailticket.model`, `mailticket.errors` and
the standard library.
"""
