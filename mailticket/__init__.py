"""mailticket: an email-first complaint desk."""

__version__ = "0.1.0"
