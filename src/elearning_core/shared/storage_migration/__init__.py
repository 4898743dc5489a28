"""Copying every object of one store into another, verified and resumable (``elearning media migrate --to s3``).

Moving a deployment from the local media directory to an S3-compatible store means copying what the
platform wrote so far, and an operator must be able to trust the copy and to stop and restart it. A run is
a plan, then the work:

- ``make_plan`` lists both stores under a prefix (metadata only) and reads the manifest, and gives each
  source object an ``Action``: COPY (absent from the target, or there with another size), CHECK (there with
  the same size, but not known to hold the same bytes: both sides are read and their SHA-256 compared, and
  the object is copied only when they differ), or SKIP (an earlier run verified it and neither side has
  changed since: the same sizes and tags, ``ObjectInfo.etag``). A dry run stops here.
- ``StoreMigration.run`` does the plan ``jobs`` objects at a time. A copy streams the source into the target
  (never a whole object in memory: the stores' own buffers of a part at most) while hashing it, then reads
  the object back from the target and compares its size and SHA-256. A difference is reported (``Observer.
  mismatch``) and the copy made once more; a second difference ends the run with ``VerificationFailed``.
- What was verified is kept in the manifest (``_manifest``: JSON Lines objects in the target), so a run
  stopped by Ctrl-C or a failure continues where it stopped, and a stored object overwritten since (its tag
  changed) is compared again and, if it differs, copied again.

The source is never changed: deleting the local files after a migration is the operator's decision.
"""

from elearning_core.shared.storage_migration._manifest import MANIFEST_PREFIX, ManifestEntry, version
from elearning_core.shared.storage_migration._plan import Action, Plan, Planned, make_plan
from elearning_core.shared.storage_migration._run import (
    MAX_ATTEMPTS,
    MAX_JOBS,
    Digest,
    MigrationReport,
    Observer,
    Outcome,
    Quiet,
    StoreMigration,
    VerificationFailed,
)

__all__ = [
    "MANIFEST_PREFIX",
    "MAX_ATTEMPTS",
    "MAX_JOBS",
    "Action",
    "Digest",
    "ManifestEntry",
    "MigrationReport",
    "Observer",
    "Outcome",
    "Plan",
    "Planned",
    "Quiet",
    "StoreMigration",
    "VerificationFailed",
    "make_plan",
    "version",
]
