"""Ground truth: the true figures per area and year, computed from the generator's latent state (who
each person really is, what really happened), never by re-reading the exports. The definitions are
in docs/ground_truth.md and follow ../shared/DESIGN.md."""

from dataclasses import dataclass

import numpy as np

from . import taxonomy as tx
from .reference import add_working_days, working_days_between
from .world import DAY0, MINUTES_PER_DAY, NEVER, RESPONSES, AreaWorld, MonthBatch, R, month_days

SLA_WORKING_DAYS = 8
EPISODE_GAP_DAYS = 14
REPEAT_WINDOW_DAYS = 365
ADVICE_WINDOW_DAYS = 30
BOUNCE_WINDOW_DAYS = 90
BOUNCE_MIN_REFERRALS = 3


@dataclass
class Latent:
    """The facts about every referral of an area that the ground truth needs, in compact types: at ten
    million referrals this is the biggest thing the generator holds."""

    person: np.ndarray  # int32
    sent_day: np.ndarray  # int32, days since 1970-01-01
    issue: np.ndarray  # int8, primary issue
    response: np.ndarray  # int8, index into RESPONSES
    resolved: np.ndarray  # bool: the response happened before the end of the data
    contact_day: np.ndarray  # int32, -1: not contacted by the end of the data
    referrer: np.ndarray  # int16
    receiver: np.ndarray  # int16
    paused: np.ndarray  # bool

    @staticmethod
    def of(world: AreaWorld, b: MonthBatch) -> "Latent":
        return Latent(b.person.astype(np.int32), (b.sent // MINUTES_PER_DAY).astype(np.int32), b.issue1.astype(np.int8),
                      b.response.astype(np.int8), b.responded != NEVER,
                      np.where(b.contacted == NEVER, -1, b.contacted // MINUTES_PER_DAY).astype(np.int32),
                      b.referrer_org.astype(np.int16), world.service_org[b.service].astype(np.int16), b.paused.copy())

    @staticmethod
    def concat(parts: list["Latent"]) -> "Latent":
        """Joined field by field, dropping each field's parts as it goes to keep the peak low."""
        joined = {}
        for f in Latent.__dataclass_fields__:
            joined[f] = np.concatenate([getattr(p, f) for p in parts])
            for p in parts:
                setattr(p, f, None)
        return Latent(**joined)


def area_truth(world: AreaWorld, latent: Latent, label_of: dict[str, str]) -> dict:
    end_day = world.end_minute // MINUTES_PER_DAY
    sent_day = latent.sent_day
    year = day_year(sent_day).astype(np.int16)
    first_year, last_year = int(world.start[:4]), int(world.end[:4])
    accepted = (latent.response == R["accepted"]) & latent.resolved
    group = np.array(tx.ISSUE_GROUP_INDEX, np.int8)[latent.issue]
    crisis = group == tx.GROUPS.index("crisis")

    # SLA: accepted referrals whose deadline has passed by the end of the data.
    deadline = (add_working_days(sent_day + DAY0, np.full(len(sent_day), SLA_WORKING_DAYS)) - DAY0).astype(np.int32)
    sla_due = accepted & (deadline < end_day)
    del deadline
    contacted = latent.contact_day >= 0
    wd_to_contact = working_days_between(sent_day + DAY0, np.where(contacted, latent.contact_day, end_day) + DAY0)
    sla_met = sla_due & contacted & (wd_to_contact <= SLA_WORKING_DAYS)
    del wd_to_contact

    # Only people referred three or more times can bounce: sorting just them keeps memory low.
    repeat_person = np.bincount(latent.person)[latent.person] >= BOUNCE_MIN_REFERRALS
    bounce = np.zeros(len(sent_day), bool)
    bounce[repeat_person] = bounce_referrals(latent.person[repeat_person], latent.issue[repeat_person],
                                             sent_day[repeat_person], accepted[repeat_person])
    del repeat_person
    episodes = crisis_episodes(latent.person, sent_day, crisis)
    advice = np.isin(group, [tx.GROUPS.index(g) for g in tx.ADVICE_GROUPS]) & accepted
    episodes["advised"] = had_referral_in_window(latent.person[advice], sent_day[advice], episodes["person"],
                                                 episodes["start"], episodes["end"] + ADVICE_WINDOW_DAYS)
    episode_start_year = day_year(episodes["start"])

    years = {}
    for y in range(first_year, last_year + 1):
        in_year = year == y
        if not in_year.any():
            continue
        ep_y = episode_start_year == y
        response = latent.response[in_year]
        resolved = latent.resolved[in_year]
        years[str(y)] = {
            "referrals": int(in_year.sum()),
            "people": int(len(np.unique(latent.person[in_year]))),
            "awaiting_response": int((~resolved).sum()),
            "responses": {name: int((resolved & (response == i)).sum()) for i, name in enumerate(RESPONSES)},
            "declines_by_reason": {name: int((resolved & (response == R[name])).sum()) for name in tx.DECLINE_REASONS},
            "referrals_by_issue_group": {g: int((group[in_year] == i).sum()) for i, g in enumerate(tx.GROUPS)},
            "sla": {
                "due": int((in_year & sla_due).sum()),
                "met": int((in_year & sla_met).sum()),
                "breaches": int((in_year & sla_due & ~sla_met).sum()),
                "never_contacted": int((in_year & sla_due & ~contacted).sum()),
            },
            "bounce_referrals": int((in_year & bounce).sum()),
            "bounced_people": int(len(np.unique(latent.person[in_year & bounce]))),
            "sent_during_paused_intake": int((in_year & latent.paused).sum()),
            "crisis": {
                "people": int(len(np.unique(latent.person[in_year & crisis]))),
                "episodes_started": int(ep_y.sum()),
                "first_time_people": int(len(np.unique(episodes["person"][ep_y & episodes["first"]]))),
                "returning_people": int(len(np.unique(episodes["person"][ep_y & episodes["repeat"]]))),
            },
            "network": network_figures(world, latent.referrer[in_year], latent.receiver[in_year]),
            "organisations_on_system": int((world.org_join < month_days(np.datetime64(f"{y + 1}-01"))[0]).sum()),
            "registered_users": int((world.user_join < month_days(np.datetime64(f"{y + 1}-01"))[0]).sum()),
        }

    cohorts = {}
    end_year = day_year(episodes["end"])
    for y in range(first_year, last_year + 1):
        ended = end_year == y
        if not ended.any():
            continue
        last_day_of_year = month_days(np.datetime64(f"{y + 1}-01"))[0] - 1
        cohort = {"final": bool(last_day_of_year + REPEAT_WINDOW_DAYS < end_day)}
        for name, mask in (("all", ended), ("with_advice", ended & episodes["advised"]),
                           ("without_advice", ended & ~episodes["advised"])):
            n, repeated = int(mask.sum()), int((mask & episodes["repeated_within_365"]).sum())
            cohort[name] = {"episodes": n, "repeated_within_365_days": repeated,
                            "rate": round(repeated / n, 4) if n else None}
        cohorts[str(y)] = cohort

    month_index = sent_day.astype("datetime64[D]").astype("datetime64[M]").astype(np.int32)
    counts = np.bincount(month_index.astype(np.int64) * len(tx.ISSUE_CODES) + latent.issue)
    monthly = {}
    for key in np.flatnonzero(counts):
        m, issue = divmod(int(key), len(tx.ISSUE_CODES))
        monthly.setdefault(str(np.datetime64(m, "M")), {})[tx.ISSUE_CODES[issue]] = int(counts[key])

    return {
        "years": years,
        "repeat_crisis_cohorts": cohorts,
        "emerging_issues": [
            {"issue": e.issue, "label": label_of[e.issue], "group": tx.ISSUES[e.issue], "first_month": e.first_month,
             "last_month": e.last_month, "peak_extra_share_of_monthly_volume": e.extra,
             "extra_referrals_by_month": {
                 str(m): round(world.base_volume(m) * world.emerging_extra(m).get(world.issue_index[e.issue], 0), 1)
                 for m in np.arange(np.datetime64(e.first_month), np.datetime64(e.last_month) + 1)
                 if np.datetime64(world.start) <= m <= np.datetime64(world.end)}}
            for e in world.profile.emerging
            if np.datetime64(e.first_month) <= np.datetime64(world.end) and np.datetime64(e.last_month) >= np.datetime64(world.start)
        ],
        "monthly_referrals_by_issue": dict(sorted(monthly.items())),
    }


def day_year(days: np.ndarray) -> np.ndarray:
    return days.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970


def network_figures(world: AreaWorld, referrer: np.ndarray, receiver: np.ndarray) -> dict:
    types = world.org_type
    between = referrer != receiver
    a = np.minimum(referrer, receiver)[between].astype(np.int64)
    b = np.maximum(referrer, receiver)[between].astype(np.int64)
    pairs = np.unique(a * 100000 + b)
    connected = np.unique(np.concatenate([pairs // 100000, pairs % 100000]))
    referring = np.unique(referrer)
    la = (types[referrer] == "local_authority") | (types[receiver] == "local_authority")
    return {
        "referring_organisations": {t: int((types[referring] == t).sum()) for t in tx.ORG_TYPES},
        "referring_la_or_statutory_organisations": int(np.isin(types[referring], ["local_authority", "statutory"]).sum()),
        "referring_vcs_organisations": int((types[referring] == "vcs").sum()),
        "connected_organisations": int(len(connected)),
        "distinct_connections": int(len(pairs)),
        "average_connections_per_organisation": round(2 * len(pairs) / len(connected), 3) if len(connected) else None,
        "referrals_to_vcs": int((types[receiver] == "vcs").sum()),
        "referrals_to_or_from_la": int(la.sum()),
        "la_share": round(float(la.mean()), 4) if len(la) else None,
    }


def bounce_referrals(person, issue, day, accepted) -> np.ndarray:
    """A referral is a bounce when it is the third or later referral of the same person for the same
    issue within 90 days and none of those referrals was accepted."""
    n = len(person)
    if n == 0:
        return np.zeros(0, bool)
    order = np.lexsort((day, issue, person))
    group_start = (person[order].astype(np.int64) * 64 + issue[order]) * 100000
    key = group_start + day[order]
    # first referral of the same person and issue within the 90 days up to this one
    lo = np.maximum(np.searchsorted(key, key - (BOUNCE_WINDOW_DAYS - 1), side="left"),
                    np.searchsorted(key, group_start, side="left"))
    del group_start
    hi = np.searchsorted(key, key, side="right")  # the window runs to the last referral of the same day
    del key
    acc = np.concatenate([[0], np.cumsum(accepted[order], dtype=np.int32)])
    third_or_later = np.arange(n) - lo + 1 >= BOUNCE_MIN_REFERRALS
    none_accepted = acc[hi] == acc[lo]
    is_bounce = np.zeros(n, bool)
    is_bounce[order] = third_or_later & none_accepted
    return is_bounce


def crisis_episodes(person, day, is_crisis) -> dict[str, np.ndarray]:
    """Merge each person's crisis referrals less than 14 days apart into episodes; an episode is a
    repeat when it starts within 365 days of the end of the person's previous episode."""
    p, d = person[is_crisis], day[is_crisis]
    order = np.lexsort((d, p))
    p, d = p[order], d[order]
    new = np.ones(len(p), bool)
    new[1:] = (p[1:] != p[:-1]) | (d[1:] - d[:-1] >= EPISODE_GAP_DAYS)
    starts = np.flatnonzero(new)
    ends = np.concatenate([starts[1:], [len(p)]]) - 1
    ep_person, ep_start, ep_end = p[starts], d[starts], d[ends]
    same_as_previous = np.zeros(len(starts), bool)
    same_as_previous[1:] = ep_person[1:] == ep_person[:-1]
    gap = np.full(len(starts), np.iinfo(np.int64).max)
    gap[1:] = ep_start[1:] - ep_end[:-1]
    repeat = same_as_previous & (gap <= REPEAT_WINDOW_DAYS)
    repeated_within = np.zeros(len(starts), bool)
    repeated_within[:-1] = repeat[1:]
    return {"person": ep_person, "start": ep_start, "end": ep_end, "first": ~same_as_previous, "repeat": repeat,
            "repeated_within_365": repeated_within}


def had_referral_in_window(ref_person, ref_day, person, start, end) -> np.ndarray:
    """For each (person, start, end) window: did that person have a referral on a day in [start, end]?"""
    key = np.sort(ref_person.astype(np.int64) * 1_000_000 + ref_day)
    lo = np.searchsorted(key, person.astype(np.int64) * 1_000_000 + start, side="left")
    hi = np.searchsorted(key, person.astype(np.int64) * 1_000_000 + end, side="right")
    return hi > lo
