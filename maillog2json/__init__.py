"""maillog2json: mail server syslog in, structured JSON out.

The data flows one way: inputs (bytes lines) -> syslog (header) -> parsers (typed event)
-> correlate (message documents) -> render (native / ECS spelling) -> sinks.
"""

__version__ = "0.1.0"
