"""Record linkage: records that share any match key belong to the same person.

The match keys are keyed hashes (privacy.py), so linkage never sees a name. Records are joined into
people by connected components over the keys; a person's pseudonym is the smallest record key in
their component, so re-running on the same records always gives the same people.
"""

import numpy as np
import pandas as pd


def link(records: pd.DataFrame, key_columns: list[str], record_key: str = "record_key") -> pd.Series:
    """For each record, its person's pseudonym: connected components where an edge is a shared match
    key. Label propagation, vectorised: each pass gives every key's records the smallest label among
    them, until nothing changes."""
    codes = pd.factorize(records[record_key], sort=True)[0]
    if len(np.unique(codes)) != len(codes):
        raise ValueError(f"{record_key} must be unique per record")
    label = codes.astype(np.int64)
    position_of = np.empty(len(codes), np.int64)
    position_of[codes] = np.arange(len(codes))
    groups = []
    for column in key_columns:
        values = records[column]
        present = values.notna().to_numpy()
        if present.any():
            group = pd.factorize(values[present])[0]
            groups.append((np.flatnonzero(present), group))
    while True:
        before = label.copy()
        for rows, group in groups:
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
    keys = np.sort(records[record_key].unique())
    return pd.Series(keys[label], index=records.index, name="person_key")


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
