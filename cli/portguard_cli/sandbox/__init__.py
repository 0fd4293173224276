"""The sandbox behind ``make run`` and ``portguard invoke --sandbox``, by job: ``account`` (the
embedded AWS account and its seeding), ``events`` (Config's events as the sandbox sends them) and
``demo`` (what ``make run`` does and says). ``python -m portguard_cli.sandbox`` is ``make run``.
"""
