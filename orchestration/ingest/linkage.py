"""Record linkage: records that share any match key belong to the same person.

The match keys are keyed hashes (privacy.py), so linkage never sees a name. Records are joined into
people by connected components over the keys; a person's pseudonym is the smallest record key in
their component, so re-running on the same records always gives the same people.
"""

import numpy as np
import pandas as pd


def link(records: pd.DataFrame, key_columns: list[str], record_key: str = "record_key") -> pd.Series:
    """For each record, its person's pseudonym: connected components where an edge is a shared match
    key; the pseudonym is the smallest record key in the component."""
    codes = pd.factorize(records[record_key], sort=True)[0]
    if len(np.unique(codes)) != len(codes):
        raise ValueError(f"{record_key} must be unique per record")
    groups = [pd.factorize(records[column])[0] for column in key_columns]  # missing: -1
    label = components(groups, len(records), start=codes)
    keys = np.sort(records[record_key].unique())
    return pd.Series(keys[label], index=records.index, name="person_key")


def components(groups: list[np.ndarray], n: int, start: np.ndarray | None = None) -> np.ndarray:
    """Connected components of n records, where records with the same code in any of `groups` (one
    code per record, -1 for none) are joined: each record's label is the smallest `start` value
    (default its position) in its component. Label propagation, vectorised: each pass gives every
    code's records the smallest label among them, until nothing changes."""
    label = (np.arange(n) if start is None else np.asarray(start)).astype(np.int64)
    position_of = np.empty(n, np.int64)
    position_of[label] = np.arange(n)
    present_groups = []
    for group in groups:
        group = np.asarray(group)
        rows = np.flatnonzero(group >= 0)
        if len(rows):
            present_groups.append((rows, group[rows]))
    while True:
        before = label.copy()
        for rows, group in present_groups:
            smallest = np.full(group.max() + 1, np.iinfo(np.int64).max)
            np.minimum.at(smallest, group, label[rows])
            label[rows] = smallest[group]
        # follow labels to their own labels (path compression), so chains collapse quickly
        while True:
            followed = label[position_of[label]]
            if np.array_equal(followed, label):
                break
            label = followed
        if np.array_equal(before, label):
            break
    return label


def pair_quality(predicted: pd.Series, truth: pd.Series) -> dict:
    """Pairwise precision and recall of a linkage: of the pairs of records put together, how many are
    the same real person; of the pairs that are the same real person, how many were put together."""
    frame = pd.DataFrame({"p": pd.factorize(predicted)[0], "t": pd.factorize(truth)[0]})
    pairs = lambda sizes: int((sizes * (sizes - 1) // 2).sum())
    linked = pairs(frame.groupby("p").size())
    true = pairs(frame.groupby("t").size())
    both = pairs(frame.groupby(["p", "t"]).size())
    return {
        "records": len(frame),
        "people_found": int(frame["p"].nunique()),
        "people_true": int(frame["t"].nunique()),
        "precision": both / linked if linked else 1.0,
        "recall": both / true if true else 1.0,
    }
