"""``python -m portguard_cli`` is the ``portguard`` command."""

from portguard_cli.main import main

raise SystemExit(main())
