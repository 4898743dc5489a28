"""The xAPI vocabulary the platform speaks: ADL verbs, activity types, and the xAPI video profile.

IRIs are the published ones (ADL's vocabulary at http://adlnet.gov/expapi/, the video profile at
https://w3id.org/xapi/video), so an external LRS or analytics tool reads the platform's statements
without a mapping of its own. Where no published term fits (a discussion post, a certificate, an
order) the platform uses its own activity types under its base URL (``PlatformIris.activity_type``).
"""

from __future__ import annotations

from dataclasses import dataclass

XAPI_VERSION = "1.0.3"

ADL_VERBS = "http://adlnet.gov/expapi/verbs/"


@dataclass(frozen=True, slots=True)
class VerbTerm:
    id: str
    display: str


def _adl(name: str) -> VerbTerm:
    return VerbTerm(ADL_VERBS + name, name)


REGISTERED = _adl("registered")
"""An account was created (the learner registered with the platform) and a learner enrolled in a course."""
EXPERIENCED = _adl("experienced")
ATTEMPTED = _adl("attempted")
ANSWERED = _adl("answered")
COMPLETED = _adl("completed")
PASSED = _adl("passed")
FAILED = _adl("failed")
SCORED = _adl("scored")
COMMENTED = _adl("commented")
VOIDED = _adl("voided")
EARNED = VerbTerm("http://id.tincanapi.com/verb/earned", "earned")
PURCHASED = VerbTerm("http://activitystrea.ms/schema/1.0/purchase", "purchased")
SUBMITTED = VerbTerm("http://activitystrea.ms/schema/1.0/submit", "submitted")

# The xAPI video profile (https://w3id.org/xapi/video): its own verbs for played/paused/seeked, ADL's completed.
VIDEO_PROFILE = "https://w3id.org/xapi/video"
PLAYED = VerbTerm(f"{VIDEO_PROFILE}/verbs/played", "played")
PAUSED = VerbTerm(f"{VIDEO_PROFILE}/verbs/paused", "paused")
SEEKED = VerbTerm(f"{VIDEO_PROFILE}/verbs/seeked", "seeked")
VIDEO_TYPE = f"{VIDEO_PROFILE}/activity-type/video"
PROFILE_TYPE = "http://adlnet.gov/expapi/activities/profile"
VIDEO_TIME = f"{VIDEO_PROFILE}/extensions/time"
VIDEO_TIME_FROM = f"{VIDEO_PROFILE}/extensions/time-from"
VIDEO_TIME_TO = f"{VIDEO_PROFILE}/extensions/time-to"
VIDEO_PROGRESS = f"{VIDEO_PROFILE}/extensions/progress"
VIDEO_PLAYED_SEGMENTS = f"{VIDEO_PROFILE}/extensions/played-segments"
VIDEO_SESSION_ID = f"{VIDEO_PROFILE}/extensions/session-id"
VIDEO_LENGTH = f"{VIDEO_PROFILE}/extensions/length"
VIDEO_SPEED = f"{VIDEO_PROFILE}/extensions/speed"

# ADL activity types.
COURSE_TYPE = "http://adlnet.gov/expapi/activities/course"
LESSON_TYPE = "http://adlnet.gov/expapi/activities/lesson"
ASSESSMENT_TYPE = "http://adlnet.gov/expapi/activities/assessment"
QUESTION_TYPE = "http://adlnet.gov/expapi/activities/cmi.interaction"

# The question kinds of the assessment module as xAPI interaction types.
INTERACTION_TYPES = {
    "single_choice": "choice",
    "multiple_response": "choice",
    "true_false": "true-false",
    "numeric": "numeric",
    "short_text": "fill-in",
    "ordering": "sequencing",
    "matching": "matching",
    "fill_blanks": "fill-in",
    "essay": "long-fill-in",
}


@dataclass(frozen=True, slots=True)
class PlatformIris:
    """The IRIs that name the platform's own things: its users' accounts and its activities.

    ``home_page`` is the platform's public base URL. An actor is an account ``{homePage, name=user id}``,
    never an email, so pseudonymising an account later rewrites one field."""

    home_page: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "home_page", self.home_page.rstrip("/"))

    def activity(self, kind: str, ident: object) -> str:
        return f"{self.home_page}/xapi/activities/{kind}/{ident}"

    def activity_type(self, kind: str) -> str:
        return f"{self.home_page}/xapi/activity-types/{kind}"

    def extension(self, name: str) -> str:
        return f"{self.home_page}/xapi/extensions/{name}"
