"""Real geography and calendar the synthetic world lives in (tables copied from ../shared, see
reference/SOURCES.md)."""

from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
import pandas as pd

REFERENCE = Path(__file__).parent / "reference"


@dataclass(frozen=True)
class Geography:
    """One row per LSOA 2011 -> LSOA 2021 piece in an area (a split 2011 LSOA has several pieces)."""

    lsoa11: np.ndarray
    lsoa21: np.ndarray
    lad: np.ndarray
    zone: np.ndarray  # index into zones: the unit a service covers (LAD or ward)
    zones: np.ndarray
    zone_names: np.ndarray
    decile: np.ndarray  # IMD 2019 (England) or WIMD 2019 (Wales) decile, 1 = most deprived
    population: np.ndarray  # residents of the piece (mid-2019, shared equally between split pieces)


@cache
def geography(lad_codes: tuple[str, ...], zone_level: str) -> Geography:
    pop = pd.read_csv(REFERENCE / "lsoa11_population_mid2019.csv")
    wards = pd.read_csv(REFERENCE / "lookup_lsoa11_ward21_lad21.csv")
    bridge = pd.read_csv(REFERENCE / "lookup_lsoa11_lsoa21_lad22.csv")
    imd = pd.read_csv(REFERENCE / "imd2019_england_lsoa11_domains.csv")
    imd = imd.iloc[:, [0, 5]].set_axis(["lsoa11", "decile"], axis=1)
    wimd = pd.read_csv(REFERENCE / "wimd2019_lsoa11_deciles.csv")
    wimd = wimd[["LSOA code", "WIMD 2019 overall decile"]].set_axis(["lsoa11", "decile"], axis=1)
    deciles = pd.concat([imd, wimd])

    lsoas = wards[wards["LAD21CD"].isin(lad_codes)].rename(columns={"LSOA11CD": "lsoa11"})
    lsoas = lsoas.merge(pop.rename(columns={"lsoa": "lsoa11"}), on="lsoa11", validate="1:1")
    lsoas = lsoas.merge(deciles, on="lsoa11", validate="1:1")
    pieces = lsoas.merge(bridge[["lsoa11_code", "lsoa21_code"]], left_on="lsoa11", right_on="lsoa11_code", validate="1:m")
    pieces["population"] = pieces["pop"] / pieces.groupby("lsoa11")["lsoa11"].transform("size")
    pieces = pieces.sort_values(["lsoa11", "lsoa21_code"]).reset_index(drop=True)
    if zone_level == "lad":
        zone_codes, zone_names = pieces["LAD21CD"], pieces["LAD21NM"]
    else:
        zone_codes, zone_names = pieces["WD21CD"], pieces["WD21NM"]
    zones, zone_index = np.unique(zone_codes.to_numpy(str), return_inverse=True)
    names = dict(zip(zone_codes, zone_names))
    return Geography(
        lsoa11=pieces["lsoa11"].to_numpy(str),
        lsoa21=pieces["lsoa21_code"].to_numpy(str),
        lad=pieces["LAD21CD"].to_numpy(str),
        zone=zone_index,
        zones=zones,
        zone_names=np.array([names[z] for z in zones]),
        decile=pieces["decile"].to_numpy(np.int8),
        population=pieces["population"].to_numpy(float),
    )


@cache
def bank_holidays() -> np.ndarray:
    """England and Wales bank holidays as datetime64[D] (GOV.UK, 2012-2028)."""
    return pd.read_csv(REFERENCE / "uk_bank_holidays_england_and_wales.csv")["date"].to_numpy("datetime64[D]")


def add_working_days(days: np.ndarray, n: np.ndarray) -> np.ndarray:
    """The date n working days after each day (weekends and bank holidays skipped); n=0 keeps a
    working day and moves a weekend or holiday to the next working day."""
    return np.busday_offset(days.astype("datetime64[D]"), n, roll="forward", holidays=bank_holidays())


def working_days_between(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Working days d with start < d <= end: the day a referral is sent does not count."""
    one = np.timedelta64(1, "D")
    return np.busday_count(start.astype("datetime64[D]") + one, end.astype("datetime64[D]") + one,
                           holidays=bank_holidays())
