"""The canonical issue taxonomy the generator thinks in (see ../shared/DESIGN.md, "Canonical model").

Each area system speaks its own labels for these issues (see `profiles.py`); the platform maps
them back with its own mapping tables. This module is the generator's truth, not the platform's.
"""

ISSUES: dict[str, str] = {
    "debt": "money",
    "welfare_benefits": "money",
    "financial_capability": "money",
    "utilities": "money",
    "food_support": "crisis",
    "fuel_crisis": "crisis",
    "emergency_grant": "crisis",
    "emergency_housing": "crisis",
    "housing": "housing",
    "employment": "employment",
    "job_search": "employment",
    "training": "employment",
    "volunteering": "employment",
    "immigration": "legal",
    "consumer": "legal",
    "small_claims": "legal",
    "wills_power_of_attorney": "legal",
    "mental_health": "wellbeing",
    "wellbeing_activities": "wellbeing",
    "digital_inclusion": "wellbeing",
    "family": "family_care",
    "community_care": "family_care",
    "carers": "family_care",
    "domestic_abuse": "family_care",
    "advocacy": "family_care",
    "other": "other",
}

ISSUE_CODES: list[str] = list(ISSUES)
GROUPS: list[str] = ["money", "crisis", "housing", "employment", "legal", "wellbeing", "family_care", "other"]
ISSUE_GROUP_INDEX = [GROUPS.index(ISSUES[code]) for code in ISSUE_CODES]

# Advice that the programme's theory of change says prevents a return to crisis.
ADVICE_GROUPS = ("money", "housing")

STATUSES = ["sent", "accepted", "declined", "cancelled", "expired", "contacted", "closed"]
DECLINE_REASONS = ["no_capacity", "not_eligible", "out_of_area", "client_declined", "duplicate", "other"]
OUTCOMES = ["got_help", "partly_helped", "could_not_contact", "no_longer_needed", "referred_elsewhere"]
ORG_TYPES = ["local_authority", "statutory", "vcs"]
