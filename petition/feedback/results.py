"""A feedback round's results from its votes, computed as Pol.is computes them (pure: no database, no clock).

The pipeline follows Pol.is' math (compdemocracy/polis, math/src/polismath) as red-dwarf 0.4.0 ports it
to Python (`reddwarf/implementations/base.py` and `reddwarf/utils/`): a participant x statement matrix
(agree +1, disagree -1, pass 0, missing filled with the statement's mean vote), PCA to two dimensions,
coordinates stretched by sqrt(statements voted on in the round / the participant's votes), k-means on
the participants with enough votes for k from 2 to 5 chosen by silhouette, then per group Pol.is'
representativeness and its significance tests, and group-informed consensus (over the groups shown when
there are two or more; over everyone grouped, as one group, when there are fewer).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import silhouette_score

Direction = Literal["agree", "disagree"]

AGREE, DISAGREE, PASS = 1, -1, 0
# Pol.is clusters only participants who have voted on at least this many statements (or on all, when
# the round has fewer).
MIN_VOTES_TO_GROUP = 7
# The group counts k-means tries; the one with the best silhouette wins (the smaller k on a tie).
GROUP_COUNTS = range(2, 6)
# A fixed seed: the same votes always give the same groups.
SEED = 0
# Coordinates are clustered rounded to this many decimals (far below any real difference between votes).
COORDINATE_DECIMALS = 9
# Pol.is' one-tailed 90 % confidence: scipy.stats.norm.ppf(0.90).
Z_90 = 1.2815515655446004
# How many representative statements a group shows, and how many consensus / divisive statements.
REPRESENTATIVE_COUNT = 5
CONSENSUS_COUNT = 5
DIVISIVE_COUNT = 5


@dataclass(frozen=True)
class StatementCounts:
    """One statement's votes over every participant: counts, and agree / (agree + disagree + pass), None unvoted."""

    statement: int
    agree: int
    disagree: int
    passed: int
    agreement_share: float | None


@dataclass(frozen=True)
class Representative:
    """A statement that sets a group apart, in Pol.is' terms.

    `share` is the group's smoothed probability of voting `direction`, (n + 1) / (votes + 2);
    `representativeness` is that share divided by the same share among the other grouped participants;
    `share_z` and `representativeness_z` are Pol.is' one- and two-proportion z-scores for them.
    """

    statement: int
    direction: Direction
    count: int
    votes: int
    share: float
    representativeness: float
    share_z: float
    representativeness_z: float


@dataclass(frozen=True)
class Group:
    """An opinion group: its id (0 the largest), size, members (participant ids, ascending) and statements."""

    id: int
    size: int
    members: tuple[int, ...]
    representative: tuple[Representative, ...]


@dataclass(frozen=True)
class Consensus:
    """A statement the groups agree with: the product over groups of (agree + 1) / (votes + 2), above 0.5 ** groups
    (with fewer than two groups shown, everyone grouped is the one group)."""

    statement: int
    group_informed_consensus: float


@dataclass(frozen=True)
class Divisive:
    """A statement the groups split on: the largest minus the smallest group's (agree + 1) / (votes + 2)."""

    statement: int
    spread: float
    most_agreeing_group: int
    least_agreeing_group: int


@dataclass(frozen=True)
class Placement:
    """A participant on the opinion map: the two PCA coordinates (unitless) and the group, None if ungrouped."""

    participant: int
    x: float
    y: float
    group: int | None


@dataclass(frozen=True)
class Results:
    """A round's results: statements in the order given, groups by id, the top consensus and divisive
    statements (best first), and every participant who voted, by id ascending."""

    statements: tuple[StatementCounts, ...]
    groups: tuple[Group, ...]
    consensus: tuple[Consensus, ...]
    divisive: tuple[Divisive, ...]
    participants: tuple[Placement, ...]


def compute(votes: Sequence[tuple[int, int, int]], statements: Sequence[int], *, min_cell_size: int) -> Results | None:
    """The results of a round from its votes, or None when fewer than `min_cell_size` participants voted.

    `votes` are (participant id, statement id, vote) with vote 1 agree, -1 disagree, 0 pass, at most one
    per participant and statement; `statements` are the round's statement ids, each once (a statement
    nobody voted on is counted with zeros). A group smaller than `min_cell_size` is never reported: its
    members get no group. Consensus is over the reported groups when there are two or more, otherwise over
    every participant who may be grouped, taken as one group (and nothing is divisive). Raises ValueError
    for a vote outside {1, -1, 0}, a statement not in `statements`, a second vote by a participant on a
    statement, a repeated statement id, or `min_cell_size` below 1.
    """
    if min_cell_size < 1:
        raise ValueError("min_cell_size must be at least 1")
    if len(set(statements)) != len(statements):
        raise ValueError("a statement id is listed twice")
    # Vectorised: a round of 5,000 participants x 200 statements brings a million votes.
    table = np.asarray(votes, dtype=np.int64).reshape(-1, 3)
    participant_ids, rows = np.unique(table[:, 0], return_inverse=True)
    bad_votes = ~np.isin(table[:, 2], (AGREE, DISAGREE, PASS))
    if bad_votes.any():
        raise ValueError(f"vote {int(table[bad_votes, 2][0])} is not 1 (agree), -1 (disagree) or 0 (pass)")
    statement_ids = np.asarray(statements, dtype=np.int64)
    order = np.argsort(statement_ids, kind="stable")
    found = np.searchsorted(statement_ids[order], table[:, 1]).clip(max=max(len(order) - 1, 0))
    unknown = (statement_ids[order][found] != table[:, 1]) if len(order) else np.ones(len(table), dtype=bool)
    if unknown.any():
        raise ValueError(f"statement {int(table[unknown, 1][0])} is not in the round")
    columns = order[found]
    cells = rows * len(statements) + columns
    _, first_index, cell_counts = np.unique(cells, return_index=True, return_counts=True)
    if (cell_counts > 1).any():
        twice = table[first_index[cell_counts > 1][0]]
        raise ValueError(f"participant {int(twice[0])} voted twice on statement {int(twice[1])}")
    if len(participant_ids) < min_cell_size:
        return None
    matrix = np.full((len(participant_ids), len(statements)), np.nan)
    matrix[rows, columns] = table[:, 2]
    participant_ids = participant_ids.tolist()

    voted = ~np.isnan(matrix)
    coordinates = _project(matrix, voted)
    to_group = np.flatnonzero(voted.sum(axis=1) >= min(MIN_VOTES_TO_GROUP, len(statements)))
    labels = _cluster(coordinates[to_group])
    groups_members = _ordered_groups(labels, to_group)

    # Representativeness compares a group with every other grouped participant, the unreported small
    # groups included, as Pol.is does.
    grouped = np.zeros(len(participant_ids), dtype=bool)
    grouped[to_group] = True
    reported = [rows for rows in groups_members if len(rows) >= min_cell_size]
    group_of: dict[int, int] = {}
    groups = []
    agree_shares = []
    for group_id, rows in enumerate(reported):
        in_group = np.zeros(len(participant_ids), dtype=bool)
        in_group[rows] = True
        stats = _GroupStats(matrix[in_group], matrix[grouped & ~in_group])
        agree_shares.append(stats.agree_share)
        groups.append(
            Group(
                id=group_id,
                size=len(rows),
                members=tuple(participant_ids[row] for row in rows),
                representative=_representative(stats, statements),
            )
        )
        group_of.update(dict.fromkeys(rows, group_id))
    if len(agree_shares) < 2:
        # Consensus across groups needs two groups to compare. With one shown group (the others too small
        # to show) its share alone would call a statement that only it agrees with "where most agree", and
        # ignore everyone else: so, as with none, everyone who may be grouped counts as one group (as in
        # Pol.is before it clusters), and nothing is divisive.
        agree_shares = [_GroupStats(matrix[grouped], matrix[~grouped]).agree_share] if len(to_group) else []

    return Results(
        statements=_counts(matrix, statements),
        groups=tuple(groups),
        consensus=_consensus(np.array(agree_shares), statements),
        divisive=_divisive(np.array(agree_shares), statements),
        participants=tuple(
            Placement(participant=participant, x=float(x), y=float(y), group=group_of.get(row))
            for row, (participant, (x, y)) in enumerate(zip(participant_ids, coordinates, strict=True))
        ),
    )


def _counts(matrix: np.ndarray, statements: Sequence[int]) -> tuple[StatementCounts, ...]:
    agree = (matrix == AGREE).sum(axis=0)
    disagree = (matrix == DISAGREE).sum(axis=0)
    passed = (matrix == PASS).sum(axis=0)
    counts = []
    for column, statement in enumerate(statements):
        total = int(agree[column] + disagree[column] + passed[column])
        counts.append(
            StatementCounts(
                statement=statement,
                agree=int(agree[column]),
                disagree=int(disagree[column]),
                passed=int(passed[column]),
                agreement_share=int(agree[column]) / total if total else None,
            )
        )
    return tuple(counts)


def _project(matrix: np.ndarray, voted: np.ndarray) -> np.ndarray:
    """Participants' two PCA coordinates, shape (participants, 2), as red-dwarf's PCA pipeline makes them."""
    voted_columns = voted.any(axis=0)
    filled = matrix[:, voted_columns]
    means = np.nanmean(filled, axis=0) if filled.size else np.zeros(0)
    filled = np.where(np.isnan(filled), means, filled)
    coordinates = np.zeros((len(matrix), 2))
    components = min(2, *filled.shape)
    if components:
        # Votes all alike leave no variance: the explained-variance ratio divides 0 by 0, the points stay at 0.
        with np.errstate(divide="ignore", invalid="ignore"):
            pca = PCA(n_components=components, random_state=SEED)
            coordinates[:, :components] = pca.fit_transform(filled)
    # Pol.is stretches a participant who voted on few statements out of the centre, where the means put them.
    statement_count = int(voted_columns.sum())
    return coordinates * np.sqrt(statement_count / np.maximum(1, voted.sum(axis=1)))[:, np.newaxis]


def _cluster(points: np.ndarray) -> np.ndarray | None:
    """k-means labels for the points, k from GROUP_COUNTS by silhouette; None when they cannot be split."""
    # Participants who voted alike land on one point up to floating-point noise (1e-17 apart): as distinct
    # points they would let k-means split a group along the noise, with a silhouette that ties, so which k
    # wins would depend on the noise (and the BLAS threads that made it). Rounded, they are one point.
    points = np.round(points, COORDINATE_DECIMALS)
    distinct = len(np.unique(points, axis=0)) if len(points) else 0
    best_labels, best_score = None, -math.inf
    for k in GROUP_COUNTS:
        if k > distinct or k >= len(points):
            break
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            labels = KMeans(n_clusters=k, n_init="auto", random_state=SEED).fit_predict(points)
        if len(set(labels.tolist())) < 2:
            continue
        score = silhouette_score(points, labels)
        if score > best_score:
            best_labels, best_score = labels, score
    return best_labels


def _ordered_groups(labels: np.ndarray | None, rows: np.ndarray) -> list[list[int]]:
    """The clusters as lists of matrix rows, largest first, then by first member, so ids are stable."""
    if labels is None:
        return []
    clusters: dict[int, list[int]] = {}
    for label, row in zip(labels.tolist(), rows.tolist(), strict=True):
        clusters.setdefault(label, []).append(row)
    return sorted(clusters.values(), key=lambda members: (-len(members), members[0]))


class _GroupStats:
    """Pol.is' per-statement statistics of a group against the other grouped participants (arrays by column)."""

    def __init__(self, inside: np.ndarray, outside: np.ndarray) -> None:
        self.votes = (~np.isnan(inside)).sum(axis=0)
        outside_votes = (~np.isnan(outside)).sum(axis=0)
        self.counts = {"agree": (inside == AGREE).sum(axis=0), "disagree": (inside == DISAGREE).sum(axis=0)}
        self.share, self.share_z, self.representativeness, self.representativeness_z = {}, {}, {}, {}
        for direction, value in (("agree", AGREE), ("disagree", DISAGREE)):
            count, outside_count = self.counts[direction], (outside == value).sum(axis=0)
            self.share[direction] = (count + 1) / (self.votes + 2)
            self.share_z[direction] = _one_proportion_z(count, self.votes)
            self.representativeness[direction] = self.share[direction] / ((outside_count + 1) / (outside_votes + 2))
            self.representativeness_z[direction] = _two_proportion_z(count, outside_count, self.votes, outside_votes)
        self.agree_share = self.share["agree"]

    def significant(self, direction: Direction) -> np.ndarray:
        return (self.share_z[direction] > Z_90) & (self.representativeness_z[direction] > Z_90)

    def direction(self, column: int) -> Direction:
        agree_z, disagree_z = self.representativeness_z["agree"][column], self.representativeness_z["disagree"][column]
        return "agree" if agree_z > disagree_z else "disagree"

    def metric(self, column: int, direction: Direction) -> float:
        return float(
            self.representativeness[direction][column]
            * self.representativeness_z[direction][column]
            * self.share[direction][column]
            * self.share_z[direction][column]
        )

    def representative(self, column: int, statement: int) -> Representative:
        direction = self.direction(column)
        return Representative(
            statement=statement,
            direction=direction,
            count=int(self.counts[direction][column]),
            votes=int(self.votes[column]),
            share=float(self.share[direction][column]),
            representativeness=float(self.representativeness[direction][column]),
            share_z=float(self.share_z[direction][column]),
            representativeness_z=float(self.representativeness_z[direction][column]),
        )


def _one_proportion_z(count: np.ndarray, votes: np.ndarray) -> np.ndarray:
    """Pol.is' smoothed one-proportion test against one half (polismath stats.clj `prop-test`)."""
    return 2 * np.sqrt(votes + 1) * ((count + 1) / (votes + 1) - 0.5)


def _two_proportion_z(count: np.ndarray, other: np.ndarray, votes: np.ndarray, other_votes: np.ndarray) -> np.ndarray:
    """Pol.is' smoothed two-proportion test, group against the rest (polismath stats.clj `two-prop-test`)."""
    inside, outside = (count + 1) / (votes + 1), (other + 1) / (other_votes + 1)
    pooled = (count + other + 2) / (votes + other_votes + 2)
    spread = np.sqrt(pooled * (1 - pooled) * (1 / (votes + 1) + 1 / (other_votes + 1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (inside - outside) / spread
    # When everyone agrees (pooled share 1) the groups do not differ: the limit is 0.
    return np.where(pooled == 1, 0.0, z)


def _representative(stats: _GroupStats, statements: Sequence[int]) -> tuple[Representative, ...]:
    """Pol.is' choice (polismath repness.clj `select-rep-comments`, as red-dwarf ports it): the group's
    best agreed statement first, then the significant ones by representativeness x share and their tests,
    at most REPRESENTATIVE_COUNT, agreements before disagreements."""
    best_agree = None
    for column in range(len(statements)):
        if _beats_best_agree(stats, column, best_agree):
            best_agree = column
    significant = stats.significant("agree") | stats.significant("disagree")
    chosen = sorted(
        np.flatnonzero(significant).tolist(),
        key=lambda column: -stats.metric(column, stats.direction(column)),
    )
    if best_agree is not None:
        head = [best_agree]
    elif not chosen and len(statements):
        # No significant statement: still the one whose test comes closest, so every group says something.
        strongest = np.maximum(stats.representativeness_z["agree"], stats.representativeness_z["disagree"])
        head = [int(np.argmax(strongest))]
    else:
        head = []
    columns = (head + [column for column in chosen if column not in head])[:REPRESENTATIVE_COUNT]
    picked = [stats.representative(column, statements[column]) for column in columns]
    return tuple(sorted(picked, key=lambda representative: representative.direction))


def _beats_best_agree(stats: _GroupStats, column: int, best: int | None) -> bool:
    """red-dwarf's `beats_best_of_agrees`: a statement with agreement the group shows, better than `best`."""
    if stats.counts["agree"][column] == 0 and stats.counts["disagree"][column] == 0:
        return False
    share, share_z = stats.share["agree"], stats.share_z["agree"]
    if best is not None:
        if stats.representativeness["agree"][best] > 1:
            return stats.metric(column, "agree") > stats.metric(best, "agree")
        return share[column] * share_z[column] > share[best] * share_z[best]
    return bool(share_z[column] > Z_90 or (stats.representativeness["agree"][column] > 1 and share[column] > 0.5))


def _consensus(agree_shares: np.ndarray, statements: Sequence[int]) -> tuple[Consensus, ...]:
    """The statements with the highest group-informed consensus (Pol.is conversation.clj) above one half per
    group, best first, ties by the order given."""
    if not len(agree_shares):
        return ()
    products = agree_shares.prod(axis=0)
    # A consensus statement leans to agreement across the groups: its product beats one half per group.
    threshold = 0.5 ** len(agree_shares)
    order = sorted(range(len(statements)), key=lambda column: -products[column])[:CONSENSUS_COUNT]
    order = [column for column in order if products[column] > threshold]
    return tuple(
        Consensus(statement=statements[column], group_informed_consensus=float(products[column])) for column in order
    )


def _divisive(agree_shares: np.ndarray, statements: Sequence[int]) -> tuple[Divisive, ...]:
    """The statements whose groups' smoothed agree shares lie furthest apart (max - min), when there are two
    groups or more; Pol.is' report shows such statements by the groups' agreement side by side."""
    if len(agree_shares) < 2:
        return ()
    most, least = agree_shares.argmax(axis=0), agree_shares.argmin(axis=0)
    spreads = agree_shares.max(axis=0) - agree_shares.min(axis=0)
    order = sorted(range(len(statements)), key=lambda column: -spreads[column])[:DIVISIVE_COUNT]
    return tuple(
        Divisive(
            statement=statements[column],
            spread=float(spreads[column]),
            most_agreeing_group=int(most[column]),
            least_agreeing_group=int(least[column]),
        )
        for column in order
        if spreads[column] > 0
    )
