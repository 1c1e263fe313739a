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
    (default its position) in its component. Each code joins its records to the code's first record
    (a star per code), and scipy finds the components of that graph in one pass."""
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import connected_components

    label = np.arange(n, dtype=np.int64) if start is None else np.asarray(start).astype(np.int64)
    sources, targets = [], []
    for group in groups:
        group = np.asarray(group)
        rows = np.flatnonzero(group >= 0).astype(np.int32)
        if len(rows):
            codes = group[rows]
            first = np.full(codes.max() + 1, -1, dtype=np.int32)
            first[codes[::-1]] = rows[::-1]  # each code's first record
            to = first[codes]
            joins = to != rows  # the first record needs no edge to itself (most codes have one record)
            sources.append(rows[joins])
            targets.append(to[joins])
    if not sources or n == 0:
        return label
    sources, targets = np.concatenate(sources), np.concatenate(targets)
    graph = csr_matrix((np.ones(len(sources), dtype=np.int8), (sources, targets)), shape=(n, n))
    del sources, targets
    count, component = connected_components(graph, directed=False)
    smallest = np.full(count, np.iinfo(np.int64).max)
    np.minimum.at(smallest, component, label)
    return smallest[component]


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
