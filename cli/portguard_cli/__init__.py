"""The ``portguard`` command: the rule's decision, offline and against live accounts.

Nothing about the decision is here: it is :mod:`portguard` (the Lambda's own package), called
the same way the handler calls it. This package reads inputs, talks to AWS, and prints.
"""
