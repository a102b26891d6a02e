"""Call flows: the YAML language admins write, its validator and its pure interpreter.

Depends on nothing else in the house: it reads files and nothing else.
"""
