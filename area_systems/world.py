"""The latent simulation of one area's referral network.

A month at a time: people in crisis or needing advice arrive (more from deprived neighbourhoods), a
referring organisation sends each need to a service that accepts the issue for their neighbourhood,
the service accepts or declines (more `no_capacity` declines when it is stretched or paused), makes
contact some working days later and closes the referral. Declined people are often re-referred
(bounces); people in crisis often get money or housing advice, and those who got it return in
crisis less often. Everything is numpy arrays so that ten million referrals stream through in
minutes; a month's referrals leave as one `MonthBatch`.

Times are minutes since 1970-01-01 in UK local wall-clock time (working hours only, so never in a
clock-change hour). NEVER marks an event that did not happen.
"""

from dataclasses import dataclass, field

import numpy as np

from . import taxonomy as tx
from .people import name_pool
from .profiles import AreaProfile
from .reference import add_working_days, geography

NEVER = np.iinfo(np.int64).max
MINUTES_PER_DAY = 1440
DAY0 = np.datetime64("1970-01-01", "D")

# Outcome slots of a referral's response, in the order their probabilities are laid out.
RESPONSES = ["cancelled", "no_capacity", "not_eligible", "out_of_area", "client_declined", "duplicate",
             "other", "expired", "accepted"]
R = {name: i for i, name in enumerate(RESPONSES)}
EXPIRY_WORKING_DAYS = 20

# Why a referral was made.
KIND_NEW, KIND_RETURN, KIND_BOUNCE, KIND_ADVICE, KIND_AGAIN = 0, 1, 2, 3, 4

ADVICE_MIX = {"debt": 0.35, "welfare_benefits": 0.35, "housing": 0.2, "utilities": 0.1}
P_ADVICE_AFTER_CRISIS = 0.5
P_RETURN_WITH_ADVICE = 0.17
P_RETURN_WITHOUT_ADVICE = 0.36
P_LATE_RETURN = 0.08
P_RETURN_NON_CRISIS = 0.12
P_REREFER_AFTER_DECLINE = 0.55
MAX_BOUNCE_CHAIN = 5


def day_of(month: str) -> int:
    return int((np.datetime64(month, "M").astype("datetime64[D]") - DAY0).astype(int))


def month_days(month: np.datetime64) -> tuple[int, int]:
    start = int((month.astype("datetime64[D]") - DAY0).astype(int))
    end = int(((month + 1).astype("datetime64[D]") - DAY0).astype(int))
    return start, end


@dataclass
class Organisation:
    id: int
    name: str
    org_type: str
    role: str
    refers: bool
    join_day: int
    size: float
    home_zone: int
    user_join_days: np.ndarray


@dataclass
class Service:
    id: int
    org: int
    name: str
    issues: np.ndarray  # bool over taxonomy.ISSUE_CODES
    zones: np.ndarray  # bool over the area's zones
    start_day: int
    headroom: float  # capacity as a multiple of the demand the service expects
    pauses: list[tuple[int, int]]  # [first day, last day] of each intake pause
    area_wide: bool


@dataclass
class MonthBatch:
    """The referrals sent in one month, with their whole (future) lifecycle and personal data."""

    seq: np.ndarray  # referral number within the area
    person: np.ndarray
    registration: np.ndarray  # which of the person's client records the referrer used (0 or 1)
    kind: np.ndarray
    sent: np.ndarray
    issue1: np.ndarray
    issue2: np.ndarray  # -1: none
    issue3: np.ndarray
    referrer_org: np.ndarray
    referrer_user: np.ndarray  # index into the area's user list
    service: np.ndarray
    response: np.ndarray  # index into RESPONSES
    responded: np.ndarray  # time of accept/decline/cancel/expiry
    contacted: np.ndarray
    closed: np.ndarray
    outcome: np.ndarray  # index into taxonomy.OUTCOMES, -1 while open or not accepted
    paused: np.ndarray  # service had paused intake when the referral was sent
    typo_first: np.ndarray  # bool: the referrer mistyped the first name
    typo_last: np.ndarray
    has_phone: np.ndarray
    has_email: np.ndarray
    note: np.ndarray  # note template index

    def __len__(self) -> int:
        return len(self.seq)

    def take(self, rows: np.ndarray) -> "MonthBatch":
        """The referrals at `rows` (indices or a boolean mask)."""
        return MonthBatch(*[getattr(self, f)[rows] for f in MonthBatch.__dataclass_fields__])


class People:
    """Everyone who has been referred in the area, with the truth about them."""

    def __init__(self):
        self.n = 0
        self.cols: dict[str, np.ndarray] = {}

    def add(self, **cols: np.ndarray) -> np.ndarray:
        k = len(next(iter(cols.values())))
        if not self.cols:
            self.cols = {name: np.empty(max(1024, k * 2), values.dtype) for name, values in cols.items()}
        cap = len(self.cols["piece"])
        if self.n + k > cap:
            new_cap = max(cap * 2, self.n + k)
            for name, arr in self.cols.items():
                grown = np.empty(new_cap, arr.dtype)
                grown[: self.n] = arr[: self.n]
                self.cols[name] = grown
        for name, values in cols.items():
            self.cols[name][self.n: self.n + k] = values
        ids = np.arange(self.n, self.n + k)
        self.n += k
        return ids

    def __getitem__(self, name: str) -> np.ndarray:
        return self.cols[name][: self.n]


@dataclass
class Pending:
    """Referrals already decided on for a future day (re-referrals, advice, returns)."""

    day: np.ndarray
    person: np.ndarray
    issue: np.ndarray
    kind: np.ndarray
    referrer: np.ndarray  # -1: choose one
    exclude_service: np.ndarray  # -1: none
    chain: np.ndarray  # bounce chain length so far
    crisis_parent: np.ndarray  # for advice referrals: 1 if it follows a crisis referral

    @staticmethod
    def empty() -> "Pending":
        i = np.empty(0, np.int64)
        return Pending(i, i, i, i, i, i, i, i)

    @staticmethod
    def concat(parts: list["Pending"], compact: bool = False) -> "Pending":
        """Joined; `compact` stores small types (the queue of future referrals can be millions long),
        otherwise int64 for arithmetic."""
        return Pending(*[np.concatenate([getattr(p, f) for p in parts]).astype(PENDING_TYPES[f] if compact else np.int64)
                         for f in Pending.__dataclass_fields__])

    def take(self, mask: np.ndarray) -> "Pending":
        return Pending(*[getattr(self, f)[mask] for f in Pending.__dataclass_fields__])

    def __len__(self) -> int:
        return len(self.day)


PENDING_TYPES = {"day": np.int32, "person": np.int32, "issue": np.int8, "kind": np.int8, "referrer": np.int16,
                 "exclude_service": np.int16, "chain": np.int8, "crisis_parent": np.int8}


def interpolate_by_year(table: dict[int, float], year: int) -> float:
    years = sorted(table)
    return float(np.interp(year, years, [table[y] for y in years]))


@dataclass
class AreaWorld:
    profile: AreaProfile
    seed: int
    scale: float
    start: str  # YYYY-MM
    end: str  # YYYY-MM, inclusive
    orgs: list[Organisation] = field(default_factory=list)
    services: list[Service] = field(default_factory=list)

    def __post_init__(self):
        area_index = [a for a in ("norfolk", "tower_hamlets", "oldham", "swansea_npt")].index(self.profile.key)
        self.rng = np.random.default_rng(np.random.SeedSequence([self.seed, area_index]))
        self.geo = geography(self.profile.lad_codes, self.profile.zone_level)
        self.first_names, self.last_names = name_pool(self.profile.welsh_names)
        self.issue_index = {code: i for i, code in enumerate(tx.ISSUE_CODES)}
        self.group_of_issue = np.array(tx.ISSUE_GROUP_INDEX)
        self.crisis_group = tx.GROUPS.index("crisis")
        self.advice_groups = [tx.GROUPS.index(g) for g in tx.ADVICE_GROUPS]
        self.people = People()
        self.pending = Pending.empty()
        self.next_seq = 0
        self.carry = 0.0
        self.referrals_per_journey = 1.1
        self.end_minute = day_of(str(np.datetime64(self.end, "M") + 1)) * MINUTES_PER_DAY
        self.start_day = day_of(self.start)
        self._build_network()
        self._need = self._neighbourhood_need()
        self.postcode_district_names = np.array([d for ds in self.profile.postcode_districts.values() for d in ds], object)
        firsts = np.cumsum([0] + [len(ds) for ds in self.profile.postcode_districts.values()])
        self.postcode_districts = {lad: np.arange(firsts[k], firsts[k + 1])
                                   for k, lad in enumerate(self.profile.postcode_districts)}
        self._weights_month = None
        self._statutory_weight: dict[int, float] = {}
        self._received: dict[int, tuple[int, int]] = {}  # year -> (referrals to the voluntary sector, all)
        self.partners: dict[int, dict[int, tuple[np.ndarray, np.ndarray]]] = {}
        self.planned_connections: dict[int, int] = {}

    # ----- the network: organisations, services, users -----

    def _build_network(self) -> None:
        p, rng, geo = self.profile, self.rng, self.geo
        n_zones = len(geo.zones)
        zone_pop = np.bincount(geo.zone, weights=geo.population, minlength=n_zones)
        live = day_of(p.live_from)
        places = list(rng.permutation(np.array(p.places)))
        user_scale = max(1.0, self.scale) ** 0.5
        for group in p.orgs:
            joins = [live] * group.base
            for first, last, count in group.joins:
                lo, hi = day_of(first), day_of(str(np.datetime64(last, "M") + 1)) - 1
                joins += sorted(rng.integers(lo, hi + 1, count).tolist())
            for k, join_day in enumerate(joins):
                if "{place}" not in group.name_pattern:
                    home, place = int(rng.choice(n_zones, p=zone_pop / zone_pop.sum())), ""
                elif group.org_type == "local_authority" and p.zone_level == "lad":
                    home = k % n_zones
                    place = geo.zone_names[home]
                else:
                    home = int(rng.choice(n_zones, p=zone_pop / zone_pop.sum()))
                    place = places.pop(0) if places else f"{p.places[k % len(p.places)]} {k}"
                    places.append(place)  # reuse names across kinds, never within one kind
                name = group.name_pattern.replace("{place}", place) if place else group.name_pattern
                n_users = max(1, int(round(group.users * rng.uniform(0.8, 1.25) * user_scale)))
                user_days = np.sort(join_day + rng.integers(0, 400, n_users))
                user_days[0] = join_day
                org = Organisation(len(self.orgs), name, group.org_type, group.role, group.refers, join_day,
                                   group.size * rng.uniform(0.7, 1.3), home, user_days)
                self.orgs.append(org)
                if group.issues:
                    self._add_services(org, group, n_zones)
        names = [o.name for o in self.orgs]
        assert len(set(names)) == len(names), f"{p.key}: duplicate organisation names"
        users = [(o.id, d) for o in self.orgs for d in o.user_join_days]
        self.user_org = np.array([u[0] for u in users])
        self.user_join = np.array([u[1] for u in users])
        self.user_offset = np.concatenate([[0], np.cumsum([len(o.user_join_days) for o in self.orgs])])
        self.org_type = np.array([o.org_type for o in self.orgs])
        self.org_size = np.array([o.size for o in self.orgs])
        self.org_join = np.array([o.join_day for o in self.orgs])
        self.org_refers = np.array([o.refers for o in self.orgs])
        self.service_org = np.array([s.org for s in self.services])
        self.service_issues = np.array([s.issues for s in self.services])
        self.service_zones = np.array([s.zones for s in self.services])
        self.service_start = np.array([s.start_day for s in self.services])
        self.service_headroom = np.array([s.headroom for s in self.services])
        self.service_statutory = np.isin(self.org_type[self.service_org], ["local_authority", "statutory"])
        self.service_size = self.org_size[self.service_org] / np.bincount(self.service_org)[self.service_org]

    def _add_services(self, org: Organisation, group, n_zones: int) -> None:
        rng, p = self.rng, self.profile
        accepted = [self.issue_index[i] for i in group.issues if i in p.issue_mix]
        if not accepted:
            return
        n_services = min(group.services, len(accepted))
        chunks = np.array_split(rng.permutation(accepted), n_services)
        for chunk in chunks:
            issues = np.zeros(len(tx.ISSUE_CODES), bool)
            issues[chunk] = True
            zones = np.zeros(n_zones, bool)
            if group.coverage == "area":
                zones[:] = True
            else:
                zones[org.home_zone] = True
                spread = 1 if p.zone_level == "lad" else rng.integers(3, 9)
                zones[rng.choice(n_zones, size=min(spread, n_zones), replace=False)] = True
            headroom = float(np.exp(rng.normal(0.12, 0.25)))
            pauses = []
            span_years = int(self.end[:4]) - int(p.live_from[:4]) + 1
            for year in range(int(p.live_from[:4]), int(p.live_from[:4]) + span_years):
                for _ in range(rng.poisson(0.3 + 2.0 * max(0.0, 1.05 - headroom))):
                    first = day_of(f"{year}-01") + int(rng.integers(0, 365))
                    first = int((add_working_days(np.array([first]) + DAY0, np.array([0]))[0] - DAY0).astype(int))
                    last = int((add_working_days(np.array([first]) + DAY0, rng.integers(4, 25, 1))[0] - DAY0).astype(int))
                    pauses.append((first, last))
            label = " / ".join(tx.ISSUE_CODES[i].replace("_", " ") for i in sorted(chunk))
            name = f"{org.name}: {label}" if n_services > 1 else org.name
            self.services.append(Service(len(self.services), org.id, name, issues, zones, org.join_day, headroom,
                                         sorted(pauses), group.coverage == "area"))

    def _neighbourhood_need(self) -> np.ndarray:
        """Relative chance that a referral comes from each LSOA piece: residents, times need that rises
        with deprivation, times how well the network reaches that neighbourhood."""
        geo = self.geo
        reach = np.exp(self.rng.normal(0, 0.45, len(geo.decile)))
        need = geo.population * (1 + 0.3 * (10 - geo.decile)) * reach
        return need / need.sum()

    def plan_partners(self, year: int) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """Who refers to whom this year: for each receiving organisation, its referring partners and
        their weights. Partnerships carry over from the previous year and new ones form until the
        mean number of distinct partners per organisation reaches the profile's figure for the year."""
        if year in self.partners:
            return self.partners[year]
        rng = self.rng
        year_end = day_of(f"{year + 1}-01")
        active = self.org_join < year_end
        receivers = np.unique(self.service_org[self.service_start < year_end])
        referrers = np.flatnonzero(active & self.org_refers)
        edges: dict[tuple[int, int], float] = {}
        previous = self.partners.get(year - 1)
        if previous is None and year - 1 >= int(self.profile.live_from[:4]) and day_of(f"{year}-01") > day_of(
                self.profile.live_from):
            previous = self.plan_partners(year - 1)
        if previous:
            for receiver, (refs, weights) in previous.items():
                for r, w in zip(refs, weights):
                    edges[(int(r), int(receiver))] = float(w)

        def add(r: int, s: int, weight: float = 1.0) -> None:
            if r != s and (r, s) not in edges:
                edges[(r, s)] = weight * float(np.sqrt(self.org_size[r]) * rng.uniform(0.6, 1.4))

        def connections() -> int:
            return len({(min(a, b), max(a, b)) for a, b in edges})

        # Everyone on the system takes part: each referrer sends to someone, each receiver hears from someone.
        receiver_p = self.org_size[receivers] / self.org_size[receivers].sum()
        referrer_p = self.org_size[referrers] / self.org_size[referrers].sum()
        sending = {a for a, _ in edges}
        hearing = {b for _, b in edges}
        # (a newcomer's first partner is one of the big receivers, so its referrals really happen)
        for r in referrers:
            if r not in sending:  # a strong first tie: every organisation on the system refers every year
                others = receivers[receivers != r]
                big = self.org_size[others] ** 3
                add(int(r), int(rng.choice(others, p=big / big.sum())), weight=3.0)
        for s in receivers:
            if s not in hearing:
                others = referrers[referrers != s]
                add(int(rng.choice(others, p=self.org_size[others] / self.org_size[others].sum())), int(s))
        n_orgs = len(set(referrers) | set(receivers))
        target = int(round(interpolate_by_year(self.profile.avg_connections, year) * n_orgs / 2))
        tries = 0
        while connections() < target and tries < 100000:
            add(int(rng.choice(referrers, p=referrer_p)), int(rng.choice(receivers, p=receiver_p)))
            tries += 1
        plan: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        for (r, s), w in sorted(edges.items()):
            refs, weights = plan.get(s, ([], []))
            refs.append(r)
            weights.append(w)
            plan[s] = (refs, weights)
        plan = {s: (np.array(refs), np.array(weights)) for s, (refs, weights) in plan.items()}
        self.partners[year] = plan
        self.planned_connections[year] = connections()
        return plan

    # ----- volumes -----

    def base_volume(self, month: np.datetime64) -> float:
        """Referrals expected in a month without the planted rises, at this scale."""
        p = self.profile
        year, m = int(str(month)[:4]), int(str(month)[5:7])
        live = np.datetime64(p.live_from, "M")
        if month < live:
            return 0.0
        years = sorted(p.yearly_referrals)
        if year > years[-1]:
            total = p.yearly_referrals[years[-1]] * (1 + p.growth_after) ** (year - years[-1])
        elif year < years[0]:
            total = p.yearly_referrals[years[0]] * (1 + p.growth_after) ** (year - years[0])
        else:
            total = p.yearly_referrals[year]
        live_months = [mm for mm in range(1, 13) if np.datetime64(f"{year}-{mm:02d}", "M") >= live]
        # Within a year volumes follow the season and ramp up in the first months after go-live.
        ramp = {mm: min(1.0, 0.35 + 0.1 * (np.datetime64(f"{year}-{mm:02d}", "M") - live).astype(int))
                for mm in live_months}
        weights = {mm: SEASON[mm - 1] * ramp[mm] for mm in live_months}
        return total * weights[m] / sum(weights.values()) * self.scale

    def emerging_extra(self, month: np.datetime64) -> dict[int, float]:
        """Planted rises: extra referrals for an issue, as a share of the month's base volume."""
        extra = {}
        for e in self.profile.emerging:
            first, last = np.datetime64(e.first_month, "M"), np.datetime64(e.last_month, "M")
            if first <= month <= last:
                length = (last - first).astype(int) + 1
                pos = (month - first).astype(int) + 0.5
                shape = 1 - abs(2 * pos / length - 1)  # a tent: rises, peaks, falls back
                extra[self.issue_index[e.issue]] = e.extra * (0.4 + 0.6 * shape)
        return extra

    def issue_distribution(self, month: np.datetime64) -> np.ndarray:
        mix = np.zeros(len(tx.ISSUE_CODES))
        for code, w in self.profile.issue_mix.items():
            mix[self.issue_index[code]] = w
        mix /= mix.sum()
        for issue, share in self.emerging_extra(month).items():
            mix[issue] += share
        return mix / mix.sum()

    # ----- one month -----

    def simulate_month(self, month: np.datetime64) -> MonthBatch | None:
        first_day, end_day = month_days(month)
        year = int(str(month)[:4])
        base = self.base_volume(month)
        extra = sum(self.emerging_extra(month).values())
        target = base * (1 + extra) + self.carry
        if target <= 0 and len(self.pending) == 0:
            return None
        self.plan_partners(year)
        due = self.pending.day < end_day
        todo, self.pending = self.pending.take(due), self.pending.take(~due)
        n_new = max(0, int(round((target - len(todo)) / self.referrals_per_journey)))
        new = self._new_journeys(n_new, month, first_day, end_day)
        batches = []
        load = np.zeros(len(self.services))
        capacity = self._capacity(month, base)
        requests = Pending.concat([todo, new])
        for _ in range(8):
            if len(requests) == 0:
                break
            batch, follow_ups = self._refer(requests, year, load, capacity, first_day)
            batches.append(batch)
            now = follow_ups.day < end_day
            requests = follow_ups.take(now)
            self.pending = Pending.concat([self.pending, follow_ups.take(~now)], compact=True)
        if not batches:
            return None
        result = concat_batches(batches)
        self.carry = target - len(result)
        if n_new:
            self.referrals_per_journey = 0.7 * self.referrals_per_journey + 0.3 * max(1.0, (len(result) - len(todo)) / n_new)
        return result

    def _capacity(self, month: np.datetime64, base_volume: float) -> np.ndarray:
        """Referrals each service can take this month: its headroom times the demand it expects from the
        ordinary issue mix (planted rises are not expected, so they stretch services)."""
        first_day, _ = month_days(month)
        mix = self.issue_distribution_base()
        zone_need = np.bincount(self.geo.zone, weights=self._need, minlength=len(self.geo.zones))
        year = int(str(month)[:4])
        expected = np.zeros(len(self.services))
        for i in np.flatnonzero(mix):
            for z in range(len(zone_need)):
                w = self._route_weights(i, z, year, first_day)
                if w.sum() > 0:
                    expected += mix[i] * zone_need[z] * w / w.sum()
        return np.maximum(1.0, expected * base_volume * self.service_headroom)

    def issue_distribution_base(self) -> np.ndarray:
        mix = np.zeros(len(tx.ISSUE_CODES))
        for code, w in self.profile.issue_mix.items():
            mix[self.issue_index[code]] = w
        return mix / mix.sum()

    def _route_weights(self, issue: int, zone: int, year: int, day: int) -> np.ndarray:
        """How likely each service is to be chosen for an issue in a zone (before pauses), cached per day."""
        if self._weights_month != (year, day):
            active = (self.service_start <= day) * self.service_size
            # The planned weight, corrected by how far this year's referrals have drifted from the
            # voluntary sector's planned share (returns and advice change the issue mix as a year goes on).
            received = self._received.get(year, (0, 0))
            drift = received[0] / received[1] - interpolate_by_year(self.profile.vcs_share_received, year) if received[1] else 0.0
            la = np.where(self.service_statutory, self.statutory_weight(year) * np.exp(8 * drift), 1.0)
            self._weights = self._all_route_weights(active * la)
            self._weights_month = (year, day)
        return self._weights[issue, zone]

    def _all_route_weights(self, service_weight: np.ndarray) -> np.ndarray:
        return np.einsum("si,sz,s->izs", self.service_issues.astype(float), self.service_zones.astype(float),
                         service_weight)

    def statutory_weight(self, year: int) -> float:
        """How much more (or less) referrers choose LA and statutory services than voluntary ones this
        year: solved so that the voluntary sector receives the profile's share of referrals."""
        if year not in self._statutory_weight:
            target = interpolate_by_year(self.profile.vcs_share_received, year)
            day = max(day_of(f"{year}-07"), day_of(self.profile.live_from))
            active = (self.service_start <= day) * self.service_size
            mix = self.issue_distribution_base()
            zone_need = np.bincount(self.geo.zone, weights=self._need, minlength=len(self.geo.zones))
            demand = mix[:, None] * zone_need[None, :]

            def vcs_share(log_weight: float) -> float:
                w = self._all_route_weights(active * np.where(self.service_statutory, np.exp(log_weight), 1.0))
                total = w.sum(axis=2)
                vcs = (w * ~self.service_statutory).sum(axis=2)
                served = total > 0
                return float((demand * np.where(served, vcs / np.where(served, total, 1), 0)).sum() / demand[served].sum())

            lo, hi = -5.0, 5.0
            for _ in range(40):
                mid = (lo + hi) / 2
                lo, hi = (mid, hi) if vcs_share(mid) > target else (lo, mid)
            self._statutory_weight[year] = float(np.exp((lo + hi) / 2))
        return self._statutory_weight[year]

    def _new_journeys(self, n: int, month: np.datetime64, first_day: int, end_day: int) -> Pending:
        rng = self.rng
        if n == 0:
            return Pending.empty()
        days = self._working_days_in(first_day, end_day)
        day = rng.choice(days, n)
        weekend = rng.random(n) < 0.03  # a few referrals are made at weekends
        day[weekend] = rng.integers(first_day, end_day, weekend.sum())
        issue = rng.choice(len(tx.ISSUE_CODES), n, p=self.issue_distribution(month))
        person = self._new_people(n, first_day)
        minus = -np.ones(n, np.int64)
        return Pending(day, person, issue, np.full(n, KIND_NEW), minus, minus, np.zeros(n, np.int64), np.zeros(n, np.int64))

    @staticmethod
    def _working_days_in(first_day: int, end_day: int) -> np.ndarray:
        days = np.arange(first_day, end_day)
        working = add_working_days(days + DAY0, np.zeros(len(days), int)) == days + DAY0
        return days[working]

    def _new_people(self, n: int, first_day: int) -> np.ndarray:
        """New people with who they really are; compact types keep ten million referrals in memory."""
        rng = self.rng
        piece = rng.choice(len(self._need), n, p=self._need)
        age_days = (rng.gamma(4.0, 6.0, n) + 18).clip(18, 90) * 365.25  # adults, mostly 25 to 55
        dob = (first_day - age_days).astype(np.int32)
        dates = dob.astype("datetime64[D]")
        day = (dates - dates.astype("datetime64[M]").astype("datetime64[D]")).astype(int) + 1
        month = (dates.astype("datetime64[M]") - dates.astype("datetime64[Y]").astype("datetime64[M]")).astype(int) + 1
        swappable = (day <= 12) & (day != month)
        # How each client record holds the date of birth: 0 right, 1 day and month swapped, 2 missing.
        dob_entry = lambda: np.where(rng.random(n) < 0.05, 2, np.where((rng.random(n) < 0.05) & swappable, 1, 0)).astype(np.int8)
        district = np.empty(n, np.int16)
        for lad, districts in self.postcode_districts.items():
            at = self.geo.lad[piece] == lad
            district[at] = districts[rng.integers(0, len(districts), at.sum())]
        return self.people.add(
            piece=piece.astype(np.int16),
            first=rng.integers(0, len(self.first_names), n).astype(np.int16),
            last=rng.integers(0, len(self.last_names), n).astype(np.int16),
            dob=dob,
            dob_entry0=dob_entry(),
            dob_entry1=dob_entry(),
            registrations=(1 + (rng.random(n) < 0.05)).astype(np.int8),
            phone=rng.integers(0, 1000, n).astype(np.int16),
            email_style=rng.integers(0, 10000, n).astype(np.int16),
            postcode_district=district,
            postcode_unit=rng.integers(0, 9 * 400, n).astype(np.int16),  # sector digit and two letters
        )

    def _refer(self, req: Pending, year: int, load: np.ndarray, capacity: np.ndarray, month_first_day: int):
        """Send the requested referrals: route each, pick who sends it, decide the response and timings,
        and say which follow-up referrals they lead to."""
        rng, n = self.rng, len(req)
        order = np.lexsort((req.person, req.day))
        req = req.take(order)
        zone = self.geo.zone[self.people["piece"][req.person]]
        service, out_of_area, mismatch = self._route(req.issue, zone, year, month_first_day, req.exclude_service)
        paused = self._paused(service, req.day)
        # Most referrers see the pause in the directory and choose again.
        retry = paused & (rng.random(n) < 0.85)
        if retry.any():
            s2, o2, m2 = self._route(req.issue[retry], zone[retry], year, month_first_day, service[retry])
            service[retry], out_of_area[retry], mismatch[retry] = s2, o2, m2
            paused[retry] = self._paused(s2, req.day[retry])
        receiver = self.service_org[service]
        referrer = req.referrer.copy()
        choose = referrer < 0
        referrer[choose] = self._choose_referrer(receiver[choose], year)
        user = self._choose_user(referrer, req.day)

        np.add.at(load, service, 1)
        vcs, total = self._received.get(year, (0, 0))
        self._received[year] = (vcs + int((~self.service_statutory[service]).sum()), total + n)
        stretch = np.clip(1 - capacity[service] / load[service], 0, 1)
        response = self._respond(n, stretch, paused, out_of_area, mismatch)
        sent, responded, contacted, closed, outcome = self._timings(req.day, response, stretch)

        issue2, issue3 = self._secondary_issues(req.issue, service)
        batch = MonthBatch(
            seq=np.arange(self.next_seq, self.next_seq + n),
            person=req.person, registration=self._registration(req.person), kind=req.kind, sent=sent,
            issue1=req.issue, issue2=issue2, issue3=issue3, referrer_org=referrer, referrer_user=user,
            service=service, response=response, responded=responded, contacted=contacted, closed=closed,
            outcome=outcome, paused=paused,
            typo_first=rng.random(n) < 0.02, typo_last=rng.random(n) < 0.03,
            has_phone=rng.random(n) < 0.8, has_email=rng.random(n) < 0.55,
            note=rng.integers(0, 6, n),
        )
        self.next_seq += n
        return batch, self._follow_ups(req, referrer, service, response, responded)

    def _route(self, issue, zone, year, day, exclude):
        """Pick the receiving service for each referral. Where no service accepts the issue for the
        person's neighbourhood the referrer still tries one elsewhere (out of area) or a generalist
        (not eligible): that is how provision gaps show up in the data."""
        rng, n = self.rng, len(issue)
        service = np.empty(n, np.int64)
        out_of_area = np.zeros(n, bool)
        mismatch = rng.random(n) < 0.03  # the occasional wrong service
        key = issue * 10000 + zone
        for k in np.unique(key):
            at = np.flatnonzero(key == k)
            i, z = divmod(int(k), 10000)
            w = self._route_weights(i, z, year, day)
            gap = w.sum() == 0
            if gap:  # nobody accepts this issue here: anyone who accepts it anywhere
                w = self._route_weights(i, z, year, day) + self.service_size * self.service_issues[:, i] * (
                    self.service_start <= day)
                out_of_area[at] = True
            if w.sum() == 0:  # nobody accepts this issue at all
                w = self.service_size * (self.service_start <= day)
                mismatch[at] = True
                out_of_area[at] = False
            service[at] = weighted_choice(rng, w, len(at))
        wrong = np.flatnonzero(mismatch & ~out_of_area)
        if len(wrong):
            active = (self.service_start <= day).astype(float)
            service[wrong] = weighted_choice(rng, active * self.service_size, len(wrong))
            mismatch[wrong] = ~self.service_issues[service[wrong], issue[wrong]]
        again = (service == exclude) & (exclude >= 0)
        if again.any():  # a re-referral goes somewhere else if there is anywhere else
            alt = self._route(issue[again], zone[again], year, day, -np.ones(again.sum(), np.int64))
            service[again], out_of_area[again], mismatch[again] = alt
        return service, out_of_area, mismatch

    def _paused(self, service: np.ndarray, day: np.ndarray) -> np.ndarray:
        paused = np.zeros(len(service), bool)
        for s in np.unique(service):
            for first, last in self.services[s].pauses:
                paused |= (service == s) & (day >= first) & (day <= last)
        return paused

    def _choose_referrer(self, receiver: np.ndarray, year: int) -> np.ndarray:
        plan = self.plan_partners(year)
        out = np.empty(len(receiver), np.int64)
        for org in np.unique(receiver):
            at = np.flatnonzero(receiver == org)
            refs, weights = plan[int(org)]
            out[at] = refs[weighted_choice(self.rng, weights, len(at))]
        return out

    def _choose_user(self, org: np.ndarray, day: np.ndarray) -> np.ndarray:
        # Users are ordered by organisation, then by the day they registered: pick one registered by then.
        key = self.user_org.astype(np.int64) * 1_000_000 + self.user_join
        lo = self.user_offset[org]
        registered = np.searchsorted(key, org * 1_000_000 + day, side="right") - lo
        return lo + (self.rng.random(len(org)) * np.maximum(registered, 1)).astype(np.int64)

    def _registration(self, person: np.ndarray) -> np.ndarray:
        two = self.people["registrations"][person] == 2
        return (two & (self.rng.random(len(person)) < 0.5)).astype(np.int64)

    def _respond(self, n, stretch, paused, out_of_area, mismatch) -> np.ndarray:
        p = np.zeros((n, len(RESPONSES)))
        p[:, R["cancelled"]] = 0.02
        p[:, R["no_capacity"]] = 0.015 + 0.8 * stretch + 0.65 * paused
        p[:, R["not_eligible"]] = 0.03 + 0.85 * mismatch
        p[:, R["out_of_area"]] = 0.85 * out_of_area
        p[:, R["client_declined"]] = 0.03
        p[:, R["duplicate"]] = 0.008
        p[:, R["other"]] = 0.01
        p[:, R["expired"]] = 0.02 + 0.12 * stretch + 0.1 * paused
        p[:, R["accepted"]] = np.maximum(0.05, 1 - p.sum(axis=1))
        p /= p.sum(axis=1, keepdims=True)
        u = self.rng.random(n)
        return (u[:, None] > np.cumsum(p, axis=1)).sum(axis=1).clip(0, len(RESPONSES) - 1)

    def _timings(self, day, response, stretch):
        """Event times in working days after sending. Contact within 8 working days meets the SLA."""
        rng, n = self.rng, len(day)
        clock = lambda: rng.integers(510, 1050, n)  # 08:30 - 17:30
        sent_day = day.astype(np.int64)
        sent = sent_day * MINUTES_PER_DAY + clock()
        wd = lambda k: (add_working_days(sent_day + DAY0, k) - DAY0).astype(np.int64)
        respond_wd = rng.geometric(1 / (1.6 + 3 * stretch)) - 1
        respond_wd = np.where(response == R["cancelled"], rng.integers(0, 4, n), respond_wd)
        respond_wd = np.where(response == R["expired"], EXPIRY_WORKING_DAYS, respond_wd)
        responded = np.maximum(sent + 1, wd(respond_wd) * MINUTES_PER_DAY + clock())
        accepted = response == R["accepted"]
        never_contacted = rng.random(n) < 0.05 + 0.1 * stretch
        contact_wd = respond_wd + rng.geometric(1 / (3.4 + 4 * stretch)) - 1
        contacted = np.where(accepted & ~never_contacted,
                             np.maximum(responded + 1, wd(contact_wd) * MINUTES_PER_DAY + clock()), NEVER)
        close_wd = np.where(never_contacted, contact_wd + 25, contact_wd + rng.integers(5, 60, n))
        closed = np.where(accepted, np.maximum(responded + 2, wd(close_wd) * MINUTES_PER_DAY + clock()), NEVER)
        closed = np.where(accepted & (contacted != NEVER), np.maximum(closed, contacted + 1), closed)
        outcome = np.where(never_contacted, tx.OUTCOMES.index("could_not_contact"),
                           rng.choice([0, 1, 3, 4], n, p=[0.6, 0.2, 0.08, 0.12]))
        outcome = np.where(accepted, outcome, -1)
        # Nothing after the end of the world has happened yet.
        responded = np.where(responded < self.end_minute, responded, NEVER)
        contacted = np.where(contacted < self.end_minute, contacted, NEVER)
        closed = np.where(closed < self.end_minute, closed, NEVER)
        return sent, responded, contacted, closed, outcome

    def _secondary_issues(self, issue: np.ndarray, service: np.ndarray):
        rng, n = self.rng, len(issue)
        accepted = self.service_issues[service].copy()
        accepted[np.arange(n), issue] = False
        issue2, issue3 = -np.ones(n, np.int64), -np.ones(n, np.int64)
        want = rng.random(n)
        for target, p in ((issue2, 0.3), (issue3, 0.08)):
            options = accepted.sum(axis=1)
            pick = (want < p) & (options > 0)
            if pick.any():
                rank = (rng.random(pick.sum()) * options[pick]).astype(int)
                target[pick] = np.argmax(np.cumsum(accepted[pick], axis=1) > rank[:, None], axis=1)
                accepted[np.flatnonzero(pick), target[pick]] = False
        return issue2, issue3

    def _follow_ups(self, req, referrer, service, response, responded) -> Pending:
        rng, n = self.rng, len(req)
        parts = []
        group = self.group_of_issue[req.issue]
        minus = -np.ones(n, np.int64)
        day_of_response = np.where(responded == NEVER, req.day, responded // MINUTES_PER_DAY)

        # Declined or unanswered: the referrer often tries another service (a bounce if it keeps failing).
        failed = np.isin(response, [R[r] for r in ("no_capacity", "not_eligible", "out_of_area", "other", "expired")])
        again = failed & (rng.random(n) < P_REREFER_AFTER_DECLINE) & (req.chain < MAX_BOUNCE_CHAIN) & (responded != NEVER)
        if again.any():
            k = again.sum()
            day = (add_working_days(day_of_response[again] + DAY0, rng.integers(1, 8, k)) - DAY0).astype(np.int64)
            # Whoever sends it next (the same organisation or another the person turns to) is chosen afresh.
            parts.append(Pending(day, req.person[again], req.issue[again], np.full(k, KIND_BOUNCE), minus[again],
                                 service[again], req.chain[again] + 1, req.crisis_parent[again]))

        # After a crisis referral, money or housing advice for some.
        first_crisis = (group == self.crisis_group) & np.isin(req.kind, [KIND_NEW, KIND_RETURN, KIND_AGAIN])
        advice = first_crisis & (rng.random(n) < P_ADVICE_AFTER_CRISIS)
        advice_issues = [self.issue_index[c] for c in ADVICE_MIX if c in self.profile.issue_mix]
        advice_p = np.array([ADVICE_MIX[tx.ISSUE_CODES[i]] for i in advice_issues])
        if advice.any() and advice_issues:
            k = advice.sum()
            parts.append(Pending(req.day[advice] + rng.integers(0, 21, k), req.person[advice],
                                 rng.choice(advice_issues, k, p=advice_p / advice_p.sum()), np.full(k, KIND_ADVICE),
                                 minus[advice], minus[advice], np.zeros(k, np.int64), np.ones(k, np.int64)))

        # Return in crisis: less likely for people whose advice referral was accepted.
        decided_here = (first_crisis & ~advice) | ((req.kind == KIND_ADVICE) & (req.crisis_parent == 1))
        got_advice = (req.kind == KIND_ADVICE) & (response == R["accepted"])
        p_return = np.where(got_advice, P_RETURN_WITH_ADVICE, P_RETURN_WITHOUT_ADVICE)
        u = rng.random(n)
        soon = decided_here & (u < p_return)
        late = decided_here & (u >= p_return) & (u < p_return + P_LATE_RETURN)
        crisis_issues = [self.issue_index[c] for c, g in tx.ISSUES.items() if g == "crisis" and c in self.profile.issue_mix]
        crisis_p = np.array([self.profile.issue_mix[tx.ISSUE_CODES[i]] for i in crisis_issues], float)
        for mask, lo, hi in ((soon, 30, 365), (late, 366, 720)):
            if mask.any():
                k = mask.sum()
                delay = np.where(hi == 365, lo + rng.exponential(110, k), rng.uniform(lo, hi, k)).clip(lo, hi).astype(np.int64)
                parts.append(Pending(req.day[mask] + delay, req.person[mask],
                                     rng.choice(crisis_issues, k, p=crisis_p / crisis_p.sum()), np.full(k, KIND_RETURN),
                                     minus[mask], minus[mask], np.zeros(k, np.int64), np.zeros(k, np.int64)))

        # Some people come back later with a different need.
        other = (req.kind == KIND_NEW) & (group != self.crisis_group) & (rng.random(n) < P_RETURN_NON_CRISIS)
        if other.any():
            k = other.sum()
            mix = self.issue_distribution_base()
            parts.append(Pending(req.day[other] + rng.integers(30, 700, k), req.person[other],
                                 rng.choice(len(mix), k, p=mix), np.full(k, KIND_AGAIN), minus[other], minus[other],
                                 np.zeros(k, np.int64), np.zeros(k, np.int64)))
        return Pending.concat(parts) if parts else Pending.empty()


SEASON = np.array([1.12, 1.05, 1.04, 0.98, 0.96, 0.93, 0.9, 0.86, 0.98, 1.06, 1.1, 1.02])


def weighted_choice(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    cum = np.cumsum(weights)
    return np.searchsorted(cum, rng.random(n) * cum[-1], side="right").clip(0, len(weights) - 1)


def concat_batches(batches: list[MonthBatch]) -> MonthBatch:
    fields = MonthBatch.__dataclass_fields__
    merged = MonthBatch(*[np.concatenate([getattr(b, f) for b in batches]) for f in fields])
    order = np.argsort(merged.sent, kind="stable")
    out = MonthBatch(*[getattr(merged, f)[order] for f in fields])
    # Referral numbers follow the order referrals were sent within the month.
    out.seq = np.sort(merged.seq)
    return out
