"""Jobs: a project's analysis scripts (and studies) queued in the application
database, run by runners in the sandbox (:mod:`fivesafes.sandbox`), their outputs
checked by the disclosure engine as they finish.

The rules are in :mod:`fivesafes.jobs.queue` (submit, list, cancel, claim) and
:mod:`fivesafes.jobs.outputs` (checking outputs, putting one into a release
request); the runner is :mod:`fivesafes.jobs.runner`. The web app only calls them.
"""

from fivesafes.jobs.models import FINISHED, Job, JobKind, JobOutput, JobState, Verdict
from fivesafes.jobs.outputs import (
    add_log_to_release_request,
    add_to_release_request,
    check_output,
)
from fivesafes.jobs.queue import (
    cancel_job,
    describe_job,
    get_job,
    get_output,
    jobs_of,
    outputs_of,
    submit_job,
    why_cannot_submit,
)

__all__ = [
    "FINISHED",
    "Job",
    "JobKind",
    "JobOutput",
    "JobState",
    "Verdict",
    "add_log_to_release_request",
    "add_to_release_request",
    "cancel_job",
    "check_output",
    "describe_job",
    "get_job",
    "get_output",
    "jobs_of",
    "outputs_of",
    "submit_job",
    "why_cannot_submit",
]
