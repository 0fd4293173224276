"""Remediation: closing a group's offending ports, and undoing it, as the compliance guides say.

The guides' procedure for this control is: confirm who needs each port, add rules for those
sources, remove the rules open to the internet, check the connection, and roll back if it broke.
The modules, in the order a remediation uses them:

- :mod:`~portguard.remediation.rules`: rules as EC2 knows them (a protocol, its ports, one
  source), read from and written to ``IpPermissions``, and what they let in;
- :mod:`~portguard.remediation.plan`: the smallest change that closes the offending ports, or
  why it is refused (the group would stay open, or the rule quota is too small);
- :mod:`~portguard.remediation.rollback`: the rollback document (the rules as found, what was
  changed) and the plan that undoes a remediation;
- :mod:`~portguard.remediation.rendering`: plans (their notes and why one is refused),
  restores and rules in words;
- :mod:`~portguard.remediation.apply`: a plan or a restore applied to a live group through EC2,
  safely even while someone else changes it (botocore stays in this module).

All but ``apply`` are pure: they use the standard library and portguard's core only. The command
line (``portguard remediate``, ``portguard restore``) and the remediation function
(:mod:`portguard.remediation_handler`) both run ``apply``. Errors are in :mod:`portguard.errors`.
"""
