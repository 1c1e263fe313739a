"""Funding against demand, ready to show: the 360Giving marts (via `figures`) with every referral count
below whole-area level passed through the disclosure rule, and every amount per referral worked out
from the rounded count (`disclose_per_count`), so that a published grant amount and a rate shown here
cannot be divided back into an exact count. The page, the grant-evidence text and the pack use these.

Grant counts and amounts are not counts of people: they are the funders' published figures and are
shown as they are. Grants to individuals appear only as area totals (`figures.funding_by_area`)."""

import pandas as pd

from . import figures
from .disclosure import disclose_change, disclose_per_count, disclose_table, disclosed_number
from .filters import Filters
from .snapshot import Snapshot

FUNDING_LEVELS = {"no_funding": "No grant", "little_funding": "Under a quarter of the area median per referral"}


def by_issue(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Per area and issue: demand, growth, unmet demand (disclosed) and the funding attributed."""
    rows = figures.funding_by_issue(snap, f)
    columns = ["area", "issue_name", "issue_group", "referrals", "referrals_last_year", "unmet_referrals",
               "declined_no_capacity", "expired", "accepting_organisations", "funded_organisations", "funding_attributed"]
    shown = disclose_table(rows[columns], ["referrals", "referrals_last_year", "unmet_referrals", "declined_no_capacity",
                                           "expired"])
    changes = [disclose_change(now, before) for now, before in zip(rows["referrals"], rows["referrals_last_year"])]
    shown.insert(5, "growth", [None if growth is None else round(growth, 4) for _, growth in changes])
    shown["funding_attributed"] = rows["funding_attributed"].round(2)
    shown["funding_per_referral"] = [_money(disclose_per_count(a, n)) for a, n in zip(rows["funding_attributed"], rows["referrals"])]
    return shown


def issue_points(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """The same as numbers for a chart: rounded referrals and unmet referrals (None where hidden)."""
    rows = figures.funding_by_issue(snap, f)
    return pd.DataFrame({"area": rows["area"], "issue_name": rows["issue_name"], "issue_group": rows["issue_group"],
                         "referrals": [disclosed_number(v) for v in rows["referrals"]],
                         "unmet": [disclosed_number(v) for v in rows["unmet_referrals"]],
                         "funding_attributed": rows["funding_attributed"].round(2)})


def per_referral(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Per receiving organisation (an org-id's departments together): referrals received and their unmet
    part (disclosed), grants matched to it and the funding per referral received."""
    rows = figures.funding_per_referral(snap, f)
    columns = ["area", "organisation_names", "organisation_type", "org_identifier", "referrals_received",
               "unmet_referrals", "declined_no_capacity", "grants", "amount_awarded"]
    shown = disclose_table(rows[columns], ["referrals_received", "unmet_referrals", "declined_no_capacity"])
    shown["funding_per_referral_received"] = [_money(disclose_per_count(a, n))
                                              for a, n in zip(rows["amount_awarded"], rows["referrals_received"])]
    return shown


def high_demand(snap: Snapshot, f: Filters) -> pd.DataFrame:
    """Organisations carrying high demand with no grant or little funding per referral (disclosed)."""
    rows = figures.high_demand_low_funding(snap, f)
    columns = ["area", "demand_rank", "organisation_names", "organisation_type", "referrals_received", "unmet_referrals",
               "declined_no_capacity", "amount_awarded"]
    shown = disclose_table(rows[columns], ["referrals_received", "unmet_referrals", "declined_no_capacity"])
    shown["funding_per_referral_received"] = [_money(disclose_per_count(a, n))
                                              for a, n in zip(rows["amount_awarded"], rows["referrals_received"])]
    shown["funding_level"] = rows["funding_level"].map(FUNDING_LEVELS).fillna(rows["funding_level"])
    shown["org_id_in_directory"] = rows["has_org_identifier"].map({True: "yes", False: "no"})
    return shown


def _money(value: float | None) -> float | None:
    return None if value is None else round(value, 2)


def pounds(value) -> str:
    return "" if value is None or pd.isna(value) else f"£{float(value):,.0f}"


def together(names: str) -> str:
    """`A; B; C` (an org-id's departments, as the marts list them) as `A, B and C together`."""
    parts = [n for n in str(names).split("; ") if n]
    if len(parts) <= 1:
        return str(names)
    return ", ".join(parts[:-1]) + f" and {parts[-1]} together"
