"""The four areas as the seed documents describe them: when they went live, how big they are, what
their networks look like, which labels their systems use, and which rises are planted in them.

Volumes are referrals sent per calendar year at --scale 1. Figures from ../shared/DESIGN.md:
Norfolk 3,283 (2019) and 4,549 (2021); Tower Hamlets 800 in March 2021 - February 2022 and 800 more
in April - September 2022, 40 organisations and 295 users; Oldham rolled out in 2021-22; Swansea and
Neath Port Talbot from September 2021.
"""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class OrgGroup:
    """A kind of organisation on an area's system: how many were there at go-live and how many join."""

    org_type: str  # local_authority | statutory | vcs
    role: str
    name_pattern: str  # "{place}" is replaced by a town, district or ward name
    base: int  # on the system from go-live
    joins: tuple[tuple[str, str, int], ...] = ()  # (first month, last month, how many join in that window)
    refers: bool = True
    issues: tuple[str, ...] = ()  # issues its services accept; empty: it receives no referrals
    services: int = 1  # services per receiving organisation
    size: float = 1.0  # relative volume of referrals it sends and receives
    coverage: str = "local"  # "area" (whole area) or "local" (one or a few zones)
    users: float = 5.0  # mean registered users


@dataclass(frozen=True)
class EmergingIssue:
    issue: str
    first_month: str
    last_month: str
    extra: float  # peak extra referrals for this issue, as a share of the area's monthly volume


@dataclass(frozen=True)
class AreaProfile:
    key: str
    network: str
    live_from: str  # first month with referrals, YYYY-MM
    lad_codes: tuple[str, ...]
    zone_level: str  # "lad" or "ward": the unit services cover
    yearly_referrals: dict[int, float]  # referrals in each calendar year (live months only)
    growth_after: float  # yearly growth after the last listed year
    issue_mix: dict[str, float]
    orgs: tuple[OrgGroup, ...]
    places: tuple[str, ...]
    avg_connections: dict[int, float]  # planned mean distinct partners per organisation, by year
    vcs_share_received: dict[int, float]  # share of referrals that voluntary-sector services receive, by year
    emerging: tuple[EmergingIssue, ...]
    postcode_districts: dict[str, tuple[str, ...]]  # LAD code -> postcode districts
    welsh_names: bool = False
    extra: dict = field(default_factory=dict)


MONEY = ("debt", "welfare_benefits", "financial_capability", "utilities")
ADVICE = MONEY + ("housing", "consumer", "employment")

NORFOLK = AreaProfile(
    key="norfolk",
    network="NCAN, Norfolk Community Advice Network",
    live_from="2015-01",
    lad_codes=("E07000143", "E07000144", "E07000145", "E07000146", "E07000147", "E07000148", "E07000149"),
    zone_level="lad",
    yearly_referrals={2017: 2700, 2018: 3000, 2019: 3283, 2020: 3800, 2021: 4549, 2022: 5450},
    growth_after=0.08,
    issue_mix={
        "debt": 16, "welfare_benefits": 17, "financial_capability": 6, "utilities": 4,
        "food_support": 6, "fuel_crisis": 3, "emergency_grant": 5, "emergency_housing": 2,
        "housing": 10, "employment": 4, "job_search": 1, "training": 1,
        "immigration": 1, "consumer": 2, "wills_power_of_attorney": 2,
        "mental_health": 7, "wellbeing_activities": 2, "digital_inclusion": 2,
        "family": 3, "community_care": 2, "carers": 1, "domestic_abuse": 2, "other": 2,
    },
    orgs=(
        OrgGroup("local_authority", "welfare_assistance", "Norfolk Assistance Scheme", 1,
                 issues=("emergency_grant", "fuel_crisis", "food_support"), size=4, coverage="area", users=12),
        OrgGroup("local_authority", "council_service", "{place} Council Housing Options", 7,
                 issues=("housing", "emergency_housing"), size=1.6, users=6),
        OrgGroup("local_authority", "council_service", "Norfolk County Council Adult Social Care", 1,
                 issues=("community_care", "carers"), size=1.5, coverage="area", users=10),
        OrgGroup("local_authority", "council_service", "Norfolk County Council Early Help", 1,
                 issues=("family", "domestic_abuse"), size=1.2, coverage="area", users=8),
        OrgGroup("local_authority", "council_service", "{place} Council Financial Inclusion Team", 0,
                 joins=(("2020-03", "2021-06", 3),), issues=("welfare_benefits", "debt", "utilities"), size=1.4, users=5),
        OrgGroup("statutory", "social_prescriber", "{place} Primary Care Network Social Prescribing", 6,
                 joins=(("2020-01", "2021-08", 4),), size=1.0, users=6),
        OrgGroup("statutory", "school", "{place} High School", 3, joins=(("2020-01", "2021-08", 3),), size=0.5, users=3),
        OrgGroup("statutory", "jobcentre", "Jobcentre Plus {place}", 2, joins=(("2020-06", "2021-06", 1),), size=1.0, users=6),
        OrgGroup("statutory", "health", "Norfolk and Suffolk NHS Foundation Trust", 1, size=1.2, coverage="area", users=8,
                 issues=("mental_health",)),
        OrgGroup("statutory", "housing_provider", "{place} Homes", 3, joins=(("2020-02", "2021-07", 1),),
                 issues=("housing",), size=0.8, users=4),
        OrgGroup("vcs", "advice_agency", "Citizens Advice {place}", 6,
                 issues=("debt", "welfare_benefits", "financial_capability", "utilities", "housing", "consumer", "employment"),
                 services=2, size=3.0, users=12),
        OrgGroup("vcs", "advice_agency", "Norfolk Community Law Service", 1,
                 issues=("debt", "welfare_benefits", "immigration", "family", "consumer", "small_claims"),
                 services=2, size=2.5, coverage="area", users=10),
        OrgGroup("vcs", "advice_agency", "{place} Money Advice", 10, joins=(("2020-01", "2021-08", 2),),
                 issues=("debt", "financial_capability", "utilities", "welfare_benefits"), size=1.2, users=4),
        OrgGroup("vcs", "foodbank", "{place} Foodbank", 12, joins=(("2020-03", "2021-08", 5),),
                 issues=("food_support",), size=0.9, users=4),
        OrgGroup("vcs", "community_centre", "{place} Community Centre", 14, joins=(("2020-01", "2021-08", 5),),
                 size=0.5, users=3),
        OrgGroup("vcs", "community_centre", "{place} Community Hub", 2, joins=(("2020-05", "2021-06", 1),),
                 issues=("wellbeing_activities", "digital_inclusion"), size=0.5, users=3),
        OrgGroup("vcs", "social_prescriber", "{place} Wellbeing Service", 5, joins=(("2020-01", "2021-08", 3),),
                 issues=("mental_health", "wellbeing_activities"), size=0.8, users=4),
        OrgGroup("vcs", "specialist", "{place} Domestic Abuse Support", 5, joins=(("2020-01", "2021-08", 4),),
                 issues=("domestic_abuse", "mental_health", "carers", "family"), size=0.7, users=4),
        OrgGroup("vcs", "specialist", "{place} Specialist Advice", 18, joins=(("2020-01", "2021-08", 7),), refers=False,
                 issues=("wills_power_of_attorney", "employment", "job_search", "training", "digital_inclusion",
                         "debt", "utilities", "consumer", "immigration", "other"), size=0.45, users=2),
        OrgGroup("statutory", "specialist", "{place} Warm Homes", 2, joins=(("2020-09", "2021-03", 1),), refers=False,
                 issues=("fuel_crisis", "utilities"), size=0.6, users=2),
        OrgGroup("vcs", "community_centre", "{place} Community Larder", 0, joins=(("2022-01", "2022-10", 5),),
                 issues=("food_support",), size=0.5, users=3),
    ),
    places=("Norwich", "Great Yarmouth", "King's Lynn", "Thetford", "Dereham", "Cromer", "North Walsham",
            "Wymondham", "Diss", "Swaffham", "Fakenham", "Attleborough", "Aylsham", "Downham Market",
            "Sheringham", "Watton", "Hunstanton", "Long Stratton", "Acle", "Holt", "Wells", "Loddon",
            "Harleston", "Sprowston", "Costessey", "Gorleston", "Caister", "Hellesdon", "Taverham", "Mattishall"),
    avg_connections={2015: 4.6, 2016: 5.0, 2017: 5.3, 2018: 5.6, 2019: 5.85, 2020: 6.75, 2021: 7.75, 2022: 8.0},
    # 2019 -> 2021: referrals grow 39% but those to the VCS only 20%, so the VCS share falls to 0.866 of itself
    vcs_share_received={2018: 0.72, 2019: 0.71, 2020: 0.665, 2021: 0.625, 2022: 0.61},
    emerging=(
        EmergingIssue("food_support", "2020-04", "2020-07", 0.10),
        EmergingIssue("fuel_crisis", "2022-09", "2023-02", 0.12),
    ),
    postcode_districts={
        "E07000143": ("IP24", "IP25", "IP26", "NR19", "NR20"),
        "E07000144": ("NR7", "NR8", "NR10", "NR12", "NR13"),
        "E07000145": ("NR29", "NR30", "NR31"),
        "E07000146": ("PE30", "PE31", "PE32", "PE33", "PE34", "PE38"),
        "E07000147": ("NR11", "NR21", "NR23", "NR25", "NR26", "NR27", "NR28"),
        "E07000148": ("NR1", "NR2", "NR3", "NR4", "NR5", "NR6"),
        "E07000149": ("NR14", "NR15", "NR16", "NR18", "IP20", "IP21", "IP22"),
    },
)

TOWER_HAMLETS = AreaProfile(
    key="tower_hamlets",
    network="THCAN, Tower Hamlets Community Advice Network",
    live_from="2021-03",
    lad_codes=("E09000030",),
    zone_level="ward",
    yearly_referrals={2021: 520, 2022: 1600},
    growth_after=0.12,
    issue_mix={
        "welfare_benefits": 16, "community_care": 3, "consumer": 2, "debt": 12, "housing": 16, "employment": 4,
        "immigration": 7, "small_claims": 1, "carers": 2, "family": 4, "utilities": 5, "advocacy": 2,
        "financial_capability": 4, "digital_inclusion": 4, "wellbeing_activities": 4, "volunteering": 2,
        "training": 2, "job_search": 2, "food_support": 9,
    },
    orgs=(
        OrgGroup("local_authority", "council_service", "Tower Hamlets Council Housing Options", 1,
                 issues=("housing",), size=1.1, coverage="area", users=18),
        OrgGroup("local_authority", "council_service", "Tower Hamlets Council Welfare Rights", 1,
                 issues=("welfare_benefits", "debt"), size=0.9, coverage="area", users=15),
        OrgGroup("local_authority", "council_service", "Tower Hamlets Council Adult Social Care", 1,
                 issues=("community_care", "carers"), size=0.5, coverage="area", users=12),
        OrgGroup("local_authority", "council_service", "Tower Hamlets Council WorkPath", 0, joins=(("2021-06", "2022-03", 1),),
                 issues=("employment", "job_search", "training"), size=0.5, coverage="area", users=10),
        OrgGroup("statutory", "social_prescriber", "{place} Primary Care Network Social Prescribing", 2,
                 joins=(("2021-05", "2022-08", 2),), size=1.0, users=10),
        OrgGroup("statutory", "school", "{place} Primary School", 1, joins=(("2021-06", "2022-09", 3),), size=0.5, users=5),
        OrgGroup("statutory", "housing_provider", "{place} Housing Association", 1, joins=(("2021-06", "2022-06", 1),),
                 issues=("housing",), size=0.8, coverage="area", users=8),
        OrgGroup("vcs", "advice_agency", "Island Advice Centre", 1,
                 issues=("welfare_benefits", "debt", "housing", "utilities", "consumer", "employment"),
                 services=2, size=3.0, coverage="area", users=18),
        OrgGroup("vcs", "advice_agency", "{place} Advice Service", 4, joins=(("2021-04", "2022-06", 2),),
                 issues=("welfare_benefits", "debt", "housing", "immigration", "utilities", "financial_capability",
                         "small_claims", "consumer"), services=2, size=1.6, users=10),
        OrgGroup("vcs", "foodbank", "{place} Foodbank", 2, joins=(("2021-05", "2022-09", 2),),
                 issues=("food_support",), size=0.8, users=6),
        OrgGroup("vcs", "community_centre", "{place} Community Centre", 2, joins=(("2021-04", "2022-09", 6),),
                 issues=("digital_inclusion", "wellbeing_activities", "volunteering", "training"), size=0.6, users=6),
        OrgGroup("vcs", "specialist", "{place} Family Support", 1, joins=(("2021-06", "2022-09", 4),),
                 issues=("family", "advocacy", "carers"), size=0.6, users=5),
        OrgGroup("vcs", "specialist", "{place} Migrant Advice", 1, joins=(("2021-07", "2022-06", 1),), refers=False,
                 issues=("immigration",), size=0.8, users=3),
    ),
    places=("Bethnal Green", "Bow", "Poplar", "Stepney", "Whitechapel", "Limehouse", "Mile End", "Shadwell",
            "Spitalfields", "Wapping", "Isle of Dogs", "Bromley-by-Bow", "Canary Wharf", "Blackwall", "Lansbury"),
    avg_connections={2021: 4.2, 2022: 5.6},
    vcs_share_received={2021: 0.81, 2022: 0.81},
    emerging=(EmergingIssue("food_support", "2022-06", "2022-11", 0.14),),
    postcode_districts={"E09000030": ("E1", "E2", "E3", "E14", "E1W")},
)

OLDHAM = AreaProfile(
    key="oldham",
    network="OCAN, Oldham Community Advice Network",
    live_from="2021-10",
    lad_codes=("E08000004",),
    zone_level="ward",
    yearly_referrals={2021: 70, 2022: 620},
    growth_after=0.15,
    issue_mix={
        "debt": 14, "welfare_benefits": 15, "financial_capability": 4, "utilities": 6,
        "food_support": 10, "fuel_crisis": 6, "emergency_grant": 5, "emergency_housing": 2, "housing": 9,
        "employment": 4, "immigration": 2, "mental_health": 7, "wellbeing_activities": 4, "digital_inclusion": 3,
        "family": 4, "carers": 2, "domestic_abuse": 2, "other": 3,
    },
    orgs=(
        OrgGroup("local_authority", "welfare_assistance", "Oldham Council Local Welfare Provision", 1,
                 issues=("emergency_grant", "fuel_crisis"), size=2.0, coverage="area", users=8),
        OrgGroup("local_authority", "council_service", "Oldham Council Housing Options", 1,
                 issues=("housing", "emergency_housing"), size=1.2, coverage="area", users=6),
        OrgGroup("statutory", "social_prescriber", "{place} Social Prescribing", 1, joins=(("2022-01", "2022-09", 2),),
                 size=0.8, users=4),
        OrgGroup("statutory", "housing_provider", "{place} Community Homes", 1, issues=("housing",), size=0.6,
                 coverage="area", users=4),
        OrgGroup("vcs", "advice_agency", "Citizens Advice Oldham", 1,
                 issues=("debt", "welfare_benefits", "utilities", "financial_capability", "housing", "employment"),
                 services=2, size=2.5, coverage="area", users=8),
        OrgGroup("vcs", "advice_agency", "Action Together", 0, joins=(("2022-02", "2022-04", 1),),
                 issues=("financial_capability", "digital_inclusion", "other"), size=1.0, coverage="area", users=6),
        OrgGroup("vcs", "foodbank", "{place} Foodbank", 2, joins=(("2022-01", "2022-10", 3),),
                 issues=("food_support",), size=0.7, users=3),
        OrgGroup("vcs", "community_centre", "{place} Community Group", 3, joins=(("2022-01", "2022-11", 9),),
                 issues=("wellbeing_activities", "food_support", "digital_inclusion"), size=0.3, users=2),
        OrgGroup("vcs", "specialist", "{place} Mental Health Support", 1, joins=(("2022-01", "2022-08", 2),),
                 issues=("mental_health", "family", "carers", "domestic_abuse"), size=0.6, users=3),
    ),
    places=("Chadderton", "Failsworth", "Royton", "Shaw", "Lees", "Saddleworth", "Werneth", "Coldhurst",
            "Hollinwood", "Alexandra", "St Mary's", "Medlock Vale", "Waterhead", "Crompton", "Hathershaw"),
    avg_connections={2021: 2.6, 2022: 4.0},
    vcs_share_received={2021: 0.76, 2022: 0.76},
    emerging=(EmergingIssue("fuel_crisis", "2022-10", "2023-02", 0.15),),
    postcode_districts={"E08000004": ("OL1", "OL2", "OL3", "OL4", "OL8", "OL9", "M35")},
)

SWANSEA_NPT = AreaProfile(
    key="swansea_npt",
    network="SNPTRAN, Swansea and Neath Port Talbot Regional Advice Network",
    live_from="2021-09",
    lad_codes=("W06000011", "W06000012"),
    zone_level="lad",
    yearly_referrals={2021: 110, 2022: 980},
    growth_after=0.12,
    issue_mix={
        "debt": 14, "welfare_benefits": 16, "financial_capability": 3, "utilities": 6,
        "food_support": 8, "fuel_crisis": 5, "emergency_grant": 9, "emergency_housing": 2, "housing": 9,
        "employment": 4, "immigration": 2, "consumer": 2, "mental_health": 6, "digital_inclusion": 3,
        "family": 4, "carers": 2, "domestic_abuse": 2, "other": 3,
    },
    orgs=(
        OrgGroup("local_authority", "council_service", "Cyngor {place} Opsiynau Tai / {place} Council Housing Options", 2,
                 issues=("housing", "emergency_housing"), size=1.2, users=6),
        OrgGroup("local_authority", "council_service", "Cyngor {place} Hawliau Lles / {place} Council Welfare Rights", 1,
                 joins=(("2022-01", "2022-05", 1),), issues=("welfare_benefits", "debt"), size=1.0, users=5),
        OrgGroup("statutory", "welfare_assistance", "Cronfa Cymorth Dewisol / Discretionary Assistance Fund", 1,
                 issues=("emergency_grant", "fuel_crisis"), size=2.2, coverage="area", users=6),
        OrgGroup("statutory", "health", "Bwrdd Iechyd Bae Abertawe {place} / Swansea Bay Health Board {place} Cluster", 0,
                 joins=(("2021-11", "2022-06", 2),), size=1.0, coverage="area", users=6),
        OrgGroup("statutory", "school", "Ysgol {place}", 0, joins=(("2021-12", "2022-08", 3),), size=0.4, users=3),
        OrgGroup("vcs", "advice_agency", "Swansea Law Clinic / Clinig y Gyfraith Abertawe", 1,
                 issues=("debt", "welfare_benefits", "housing", "consumer", "immigration", "family"),
                 services=2, size=2.0, coverage="area", users=8),
        OrgGroup("vcs", "advice_agency", "Cyngor ar Bopeth {place} / Citizens Advice {place}", 2,
                 joins=(("2021-10", "2022-05", 1),),
                 issues=("debt", "welfare_benefits", "utilities", "financial_capability", "employment", "housing"),
                 services=2, size=2.2, users=8),
        OrgGroup("vcs", "foodbank", "Banc Bwyd {place} / {place} Foodbank", 2, joins=(("2021-10", "2022-08", 4),),
                 issues=("food_support",), size=0.7, users=3),
        OrgGroup("vcs", "community_centre", "Canolfan Gymunedol {place} / {place} Community Centre", 1,
                 joins=(("2021-10", "2022-08", 9),), issues=("digital_inclusion", "other"), size=0.4, users=3),
        OrgGroup("vcs", "specialist", "{place} Mental Health Matters / Materion Iechyd Meddwl", 0,
                 joins=(("2021-11", "2022-08", 3),), issues=("mental_health", "carers", "domestic_abuse", "family"),
                 size=0.6, users=3),
        OrgGroup("vcs", "specialist", "{place} Energy Advice / Cyngor Ynni", 0, joins=(("2022-01", "2022-08", 2),),
                 refers=False, issues=("utilities", "fuel_crisis"), size=0.6, users=2),
    ),
    places=("Abertawe", "Castell-nedd", "Port Talbot", "Treforys", "Gorseinon", "Pontardawe", "Glyn-nedd",
            "Llansamlet", "Sgeti", "Penlan", "Townhill", "Aberafan", "Llandarcy", "Ystalyfera", "Clydach"),
    avg_connections={2021: 2.8, 2022: 4.6},
    vcs_share_received={2021: 0.74, 2022: 0.74},
    emerging=(EmergingIssue("emergency_grant", "2022-10", "2023-01", 0.3),),
    postcode_districts={"W06000011": ("SA1", "SA2", "SA4", "SA5", "SA6", "SA7"),
                        "W06000012": ("SA8", "SA10", "SA11", "SA12", "SA13")},
    welsh_names=True,
)

AREAS: tuple[AreaProfile, ...] = (NORFOLK, TOWER_HAMLETS, OLDHAM, SWANSEA_NPT)
