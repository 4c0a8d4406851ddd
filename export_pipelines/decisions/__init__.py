"""Choices where the vendors' documents are silent (``shared/providers/DECISIONS.md``).

One module per vendor. Each constant is a guess about a real system, kept in exactly one place so
that the sandbox (the vendor simulator) and the client agree, and so that it can be changed when a
real account shows otherwise. Only constants live here, never protocol code: the sandbox and the
clients implement the protocol independently, so that a bug in one is caught by the other.
"""
