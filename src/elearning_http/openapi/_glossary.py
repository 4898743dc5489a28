"""What the document says of parameters shared by many routes, and the example of each request body.

A route's own ``description=`` wins over the glossary. A new parameter name, or a new request model,
needs an entry here (or on the route): tests/e2e/test_openapi_document.py fails otherwise.
"""

from __future__ import annotations

from typing import Any

ID = "018f6d1e-8a4b-7c3d-9e2f-0a1b2c3d4e5f"
OTHER_ID = "018f6d1e-8a4b-7c3d-9e2f-0a1b2c3d4e60"
THIRD_ID = "018f6d1e-8a4b-7c3d-9e2f-0a1b2c3d4e61"

PARAMETER_DESCRIPTIONS: dict[tuple[str, str], str] = {
    # path ids
    ("path", "course_id"): "The course's id",
    ("path", "section_id"): "The section's id (in the course)",
    ("path", "lesson_id"): "The lesson's id (in the section)",
    ("path", "user_id"): "The user's id",
    ("path", "attachment_id"): "The attachment's id (of the lesson)",
    ("path", "organization_id"): "The organization's id",
    ("path", "cohort_id"): "The cohort's id (in the course)",
    ("path", "video_id"): "The video's id",
    ("path", "upload_id"): "The upload's id, from the Location of its creation",
    ("path", "question_id"): "The question's id",
    ("path", "quiz_id"): "The quiz's id",
    ("path", "attempt_id"): "The attempt's id",
    ("path", "notification_id"): "The notification's id (one of the caller's)",
    ("path", "path_id"): "The learning path's id",
    ("path", "number"): "A published version's number (1, 2, ...)",
    ("path", "slug"): "The course's (or learning path's) slug, as in its URL",
    ("path", "provider"): "The external identity provider's name, as `GET /api/v1/auth/providers` lists it",
    ("path", "language"): "The captions' language, a BCP 47 tag (`en`, `pt-BR`)",
    ("path", "token"): "The signed media token from `GET /api/v1/videos/{video_id}/playback`",
    ("path", "file_path"): "The file in the video's HLS ladder or captions (`hls/master.m3u8`)",
    ("path", "credential_id"): "The certificate's id (its credential's verification URL ends with it)",
    ("path", "invoice_id"): "The invoice's id",
    ("path", "code"): "The subscription plan's code (`pro-monthly`), or the coupon's (`SPRING20`)",
    ("path", "order_id"): "The order's id",
    ("path", "thread_id"): "The discussion thread's id (also its opening post's id)",
    ("path", "post_id"): "The discussion post's id (a thread's opening post, a response or a comment)",
    ("path", "subscription_id"): "The subscription's id",
    ("path", "method_id"): "The saved payment method's id, as `GET /api/v1/me/payment-methods` lists it",
    ("path", "kid"): "The credential key's id, the last segment of a credential's JOSE `kid`",
    # lists
    ("query", "limit"): "Most items in the page",
    ("query", "cursor"): "`next_cursor` of the previous page (opaque)",
    # filters
    ("query", "language"): "Only courses in this language (BCP 47 tag, case-insensitive)",
    ("query", "level"): "Only courses of this level",
    ("query", "tag"): "Only items with this tag",
    ("query", "status"): "Only items in this status",
    ("query", "q"): "Text to search for",
    ("query", "organization_id"): "Only members of this organization",
    ("query", "cohort_id"): "Only this cohort's enrollments",
    ("query", "include_archived"): "Include archived questions",
    ("query", "user_id"): "Only this learner's items",
    ("query", "quiz_id"): "Only this quiz's items",
    ("query", "label"): "The captions' label in the player (defaults to the language)",
    ("query", "token"): "The token of the verification mail",
    ("query", "code"): "The provider's authorization code",
    ("query", "state"): "The state this platform sent to the provider",
    ("query", "error"): "The provider's error code, when it did not sign the user in",
    ("query", "role"): "The role to revoke",
    ("query", "scope"): "The grant's scope: platform, organization or course",
    ("query", "scope_id"): "The organization or course of the grant (none for platform)",
}

REQUEST_EXAMPLES: dict[str, Any] = {
    "SynonymsSpec": {"synonyms": ["javascript", "ecmascript"]},
    # certificates
    "SetPreferences": {
        "preferences": [
            {"type": "discussion_reply", "channel": "email", "cadence": "daily"},
            {"type": "announcement", "channel": "in_app", "cadence": "immediate"},
        ]
    },
    "AwardSettings": {"enabled": True, "available_from": "2026-09-01T00:00:00Z", "valid_days": 730, "template": None},
    "Revoke": {"reason": "issued in error"},
    "SetOffer": {"paid": True, "audit_track": True},
    # subscriptions
    "SavePaymentMethod": {"token": "pm_card_from_the_providers_form", "make_default": True},
    "Subscribe": {
        "plan_code": "pro-monthly",
        "currency": "EUR",
        "billing_name": "Ada Lovelace",
        "billing_country": "GB",
    },
    "CancelSubscription": {"at_period_end": True},
    "ChangePlan": {"plan_code": "pro-yearly"},
    "AssignSeat": {"user_id": ID},
    # checkout
    "SetPrices": {
        "prices": [{"currency": "EUR", "amount": 4900}, {"currency": "USD", "amount": 5400}],
        "tax_inclusive": True,
    },
    "ProfileInput": {
        "name": "Ada Lovelace",
        "address": "12 St James's Square, London",
        "country": "DE",
        "evidence": [{"kind": "billing_address", "country": "DE"}],
        "tax_id": None,
    },
    "CreateCoupon": {
        "code": "SPRING20",
        "percent_off": 20,
        "expires_at": "2026-06-01T00:00:00Z",
        "max_redemptions": 100,
    },
    "Checkout": {
        "item_kind": "course",
        "item_id": "0190f5a2-7c1e-7d2a-9b3c-4d5e6f708192",
        "currency": "EUR",
        "coupon": "SPRING20",
        "payment_method": "fake_card_4242424242424242",
    },
    "RefundOrder": {"order_id": "0190f5a2-7c1e-7d2a-9b3c-4d5e6f708193", "amount": 900, "reason": "goodwill"},
    # auth
    "RegisterUser": {"email": "ada@example.org", "password": "correct horse battery", "display_name": "Ada"},
    "Login": {"email": "ada@example.org", "password": "correct horse battery"},
    "RefreshBody": {"refresh_token": "f3N0b2tlbi1mcm9tLXRoZS1sb2dpbi1hbnN3ZXI"},
    "TokenBody": {"token": "dG9rZW4tZnJvbS10aGUtbWFpbA"},
    "EmailBody": {"email": "ada@example.org"},
    "ConfirmPasswordReset": {"token": "dG9rZW4tZnJvbS10aGUtbWFpbA", "new_password": "a new long passphrase"},
    "ResetForm": {"token": "dG9rZW4tZnJvbS10aGUtbWFpbA", "new_password": "a new long passphrase"},
    # users and organizations
    "ChangeEmail": {"new_email": "ada.lovelace@example.org", "current_password": "correct horse battery"},
    "UpdateProfile": {"display_name": "Ada L.", "time_zone": "Europe/London"},
    "ChangePassword": {"current_password": "correct horse battery", "new_password": "a new long passphrase"},
    "DeleteAccount": {"password": "correct horse battery"},
    "CreateUser": {"email": "grace@example.org", "display_name": "Grace", "password": "a long passphrase"},
    "Suspension": {"reason": "spam in the forums"},
    "RoleGrantSpec": {"role": "instructor", "scope": "course", "scope_id": ID},
    "CreateOrganization": {"slug": "acme", "name": "Acme University", "time_zone": "Europe/Paris"},
    "UpdateOrganization": {"time_zone": "America/New_York"},
    # courses
    "CreateCourse": {
        "title": "Intro to Python",
        "summary": "Variables, loops and functions",
        "language": "en",
        "level": "beginner",
        "tags": ["python"],
    },
    "CoursePatch": {"summary": "Variables, loops, functions and classes", "expected_version": 3},
    "NewItem": {"title": "Basics"},
    "Rename": {"title": "The basics"},
    "SectionOrder": {"section_ids": [ID, OTHER_ID]},
    "LessonOrder": {"lesson_ids": [ID, OTHER_ID]},
    "LessonContentSpec": {
        "kind": "text",
        "body_markdown": "# Variables\n\nA name for a value.",
        "duration_seconds": 300,
        "preview": False,
    },
    "SectionReleaseSpec": {"release_after_days": 7},
    "RequirementsSpec": {
        "requirements": [{"kind": "previous"}, {"kind": "quiz", "assessment_id": ID, "min_percent": 80}]
    },
    # enrollments
    "CohortChoice": {"cohort_id": ID},
    "EnrollmentSettings": {"self_enrollment": True, "capacity": 30, "prerequisites": []},
    "CreateCohort": {"name": "Spring 2027", "capacity": 30, "starts_at": "2027-03-01T09:00:00Z"},
    "UpdateCohort": {"capacity": 40},
    # learning paths
    "CreatePath": {"title": "Data engineering", "slug": "data-engineering", "description": "From SQL to pipelines"},
    "UpdatePath": {"title": "Data engineering with Python"},
    "SetStructure": {
        "parts": [
            {"kind": "required", "course_ids": [ID]},
            {"kind": "elective", "title": "Pick one", "course_ids": [OTHER_ID, THIRD_ID], "required_count": 1},
        ],
        "prerequisites": [],
    },
    # videos
    "CreateVideo": {"title": "Loops in 5 minutes"},
    "SavePosition": {"position_seconds": 42.5},
    "text/vtt": "WEBVTT\n\n00:00.000 --> 00:02.000\nHello\n",
    "application/offset+octet-stream": "(the file's bytes from Upload-Offset on)",
    "application/octet-stream": "(the file's bytes)",
    # assessment
    "QuestionInput": {
        "prompt": "Which keyword defines a function?",
        "points": 1,
        "body": {
            "kind": "single_choice",
            "options": [{"id": "a", "text": "def"}, {"id": "b", "text": "fun"}],
            "correct": "a",
        },
        "tags": ["functions"],
    },
    "Regrade": {"body": {"kind": "true_false", "correct": False}, "dry_run": True},
    "QuizSettings": {
        "title": "Functions quiz",
        "slots": [{"type": "fixed", "question_id": ID}, {"type": "draw", "tags": ["functions"], "count": 2}],
        "max_attempts": 2,
        "time_limit_seconds": 900,
    },
    "QuizDocument": {
        "format": "elearning.quiz.v1",
        "quiz": {"title": "Functions quiz", "slots": [{"type": "fixed", "ref": "q1"}]},
        "questions": [
            {
                "ref": "q1",
                "prompt": "Python functions are defined with `def`.",
                "body": {"kind": "true_false", "correct": True},
            }
        ],
    },
    "ExtensionInput": {"due_at": "2027-03-15T23:59:00Z", "extra_attempts": 1},
    "SaveAnswer": {"response": {"choice": "a"}},
    "ManualGrade": {"rubric": {"clarity": 2}, "feedback": "Clear and to the point."},
    "AttemptFeedback": {"feedback": "Well done."},
    "GradingSchemeInput": {"categories": [{"name": "quizzes", "weight": 1}, {"name": "exams", "weight": 2}]},
    # progress
    "Heartbeat": {
        "start": 120.0,
        "end": 145.0,
        "position": 145.0,
        "state": "playing",
        "playback_rate": 1.0,
        "player_session_id": "3f1c2a",
    },
    "SetCompletionRules": {"text_requires_done": False, "video_percent": 90, "assessment_requires_pass": True},
    "StaffDecision": {"reason": "passed the oral exam on 2 March"},
    # discussion
    "NewThread": {
        "kind": "question",
        "title": "Why does my loop never end?",
        "body": "I wrote `while True:`",
        "lesson_id": ID,
    },
    "NewReply": {"body": "Add a `break` once the condition holds.", "parent_id": None},
    "EditPost": {"body": "I wrote `while True:` without a break"},
    "NewAnnouncement": {"title": "Exam on Monday", "body": "The exam opens on **Monday** at 9:00."},
    "SetThreadFlag": {"flag": "pinned", "on": True},
    "Reason": {"reason": "off-topic advertising"},
    "NewBan": {"user_id": ID, "until": "2027-03-15T00:00:00Z", "reason": "repeated spam"},
    "Blackouts": {"periods": [{"starts_at": "2027-03-14T00:00:00Z", "ends_at": "2027-03-16T00:00:00Z"}]},
    "SubscriptionIn": {"state": "follow"},
    "WatchIn": {"on": True},
    "AcceptIn": {"post_id": ID},
    "EndorseIn": {"on": True},
    "ModerateIn": {"action": "hide", "reason": "personal data in the post"},
}
