"""The feedback round's results: a hand-worked example, agreement with red-dwarf (Pol.is' math in Python),
small cells, bad input and determinism. Pure: no database."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import pytest

from petition.feedback.results import Results, compute

STATEMENTS = [10, 11, 12, 13]


def two_camps() -> list[tuple[int, int, int]]:
    """Camp A (participants 0-5) agrees with 10, 12, 13 and disagrees with 11; camp B (6-9) the
    reverse on 10 and 11, agrees with 12 too and passes on 13."""
    votes = []
    for participant in range(6):
        votes += [(participant, 10, 1), (participant, 11, -1), (participant, 12, 1), (participant, 13, 1)]
    for participant in range(6, 10):
        votes += [(participant, 10, -1), (participant, 11, 1), (participant, 12, 1), (participant, 13, 0)]
    return votes


def test_two_camps_give_the_hand_worked_groups_representatives_and_consensus() -> None:
    # Working. Every participant voted on all 4 statements (>= min(7, 4)), so all are grouped. Each camp
    # votes alike, so PCA puts each camp on one point: two distinct points, k = 2 is the only k k-means can
    # try, its silhouette is 1. Group 0 is the larger camp, A (6), group 1 is B (4).
    #
    # Pol.is' statistics for a group (n in-group votes, c of them the direction; n', c' the others):
    #   share p = (c + 1) / (n + 2); share_z = 2 sqrt(n + 1) ((c + 1) / (n + 1) - 1/2);
    #   representativeness r = p / ((c' + 1) / (n' + 2));
    #   representativeness_z = (p1 - p2) / sqrt(q (1 - q) (1 / (n + 1) + 1 / (n' + 1))) with
    #   p1 = (c + 1) / (n + 1), p2 = (c' + 1) / (n' + 1), q = (c + c' + 2) / (n + n' + 2).
    # Group A (n = 6, n' = 4), statement 10 agree (c = 6, c' = 0): p = 7/8; share_z = 2 sqrt 7 (1 - 1/2)
    #   = sqrt 7 = 2.6458; r = (7/8) / (1/6) = 5.25; p1 = 1, p2 = 1/5, q = 8/12,
    #   z = 0.8 / sqrt(2/9 (1/7 + 1/5)) = 0.8 / 0.27603 = 2.8983. Both > 1.2816 (90 %): significant.
    #   Statement 13 agree (camp B passes: c' = 0 of n' = 4): the same numbers. Statement 11 disagree:
    #   the same numbers again. Statement 12: everyone agrees, q = 1, z = 0: not representative.
    #   Best agree: statement 10 (first that passes share_z > 1.2816; 13 only ties it). Then the
    #   significant ones by r * z * p * share_z (all 53.5, ties in statement order): 10, 13, 11;
    #   agreements first: 10 agree, 13 agree, 11 disagree.
    # Group B (n = 4, n' = 6), statement 11 agree (c = 4, c' = 0): p = 5/6, share_z = 2 sqrt 5 (1 - 1/2)
    #   = 2.2361, r = (5/6) / (1/8) = 6.6667, p1 = 1, p2 = 1/7, q = 6/12,
    #   z = (6/7) / sqrt(1/4 (1/5 + 1/7)) = 0.85714 / 0.29277 = 2.9277: significant; statement 10
    #   disagree the same. Statement 13: B never agrees nor disagrees (c = 0, c' = 6 agrees; disagrees
    #   c = c' = 0 so z = 0): not significant. Best agree 11; then 11, 10: 11 agree, 10 disagree.
    # Group-informed consensus (product over groups of (agree + 1) / (votes + 2)):
    #   12: (7/8)(5/6) = 0.7292 > 0.5 ** 2; 10: (7/8)(1/6) = 0.1458; 13: the same; 11: (1/8)(5/6) = 0.1042.
    #   Only 12 beats one half per group.
    # Divisive (max - min of the groups' agree shares): 10, 11 and 13 all 7/8 - 1/6 = 0.7083, then
    #   12: 7/8 - 5/6 = 0.0417.
    results = compute(two_camps(), STATEMENTS, min_cell_size=3)

    assert results is not None
    assert [(group.id, group.size, group.members) for group in results.groups] == [
        (0, 6, (0, 1, 2, 3, 4, 5)),
        (1, 4, (6, 7, 8, 9)),
    ]
    assert [(r.statement, r.direction) for r in results.groups[0].representative] == [
        (10, "agree"),
        (13, "agree"),
        (11, "disagree"),
    ]
    assert [(r.statement, r.direction) for r in results.groups[1].representative] == [(11, "agree"), (10, "disagree")]
    first = results.groups[0].representative[0]
    assert (first.count, first.votes) == (6, 6)
    assert first.share == pytest.approx(7 / 8)
    assert first.share_z == pytest.approx(math.sqrt(7))
    assert first.representativeness == pytest.approx(5.25)
    assert first.representativeness_z == pytest.approx(0.8 / math.sqrt(2 / 9 * (1 / 7 + 1 / 5)))
    assert [(c.statement, c.group_informed_consensus) for c in results.consensus] == [
        (12, pytest.approx(7 / 8 * 5 / 6))
    ]
    assert [(d.statement, d.most_agreeing_group, d.least_agreeing_group) for d in results.divisive] == [
        (10, 0, 1),
        (11, 1, 0),
        (13, 0, 1),
        (12, 0, 1),
    ]
    assert results.divisive[0].spread == pytest.approx(7 / 8 - 1 / 6)


def test_statement_counts_and_agreement_share_count_passes() -> None:
    votes = [*two_camps(), (10, 10, 0)]
    results = compute(votes, [*STATEMENTS, 14], min_cell_size=3)

    assert results is not None
    counts = {c.statement: (c.agree, c.disagree, c.passed, c.agreement_share) for c in results.statements}
    assert counts == {
        10: (6, 4, 1, 6 / 11),
        11: (4, 6, 0, 0.4),
        12: (10, 0, 0, 1.0),
        13: (6, 0, 4, 0.6),
        14: (0, 0, 0, None),
    }


def test_every_participant_is_placed_and_only_those_with_enough_votes_are_grouped() -> None:
    # Participant 10 voted once: placed on the map, in no group (4 statements need 4 votes).
    results = compute([*two_camps(), (10, 10, 1)], STATEMENTS, min_cell_size=3)

    assert results is not None
    assert [p.participant for p in results.participants] == list(range(11))
    assert [p.group for p in results.participants] == [0] * 6 + [1] * 4 + [None]
    assert all(math.isfinite(p.x) and math.isfinite(p.y) for p in results.participants)


def test_a_group_smaller_than_the_cell_size_is_not_reported_and_its_members_get_no_group() -> None:
    results = compute(two_camps(), STATEMENTS, min_cell_size=5)

    assert results is not None
    assert [(group.id, group.members) for group in results.groups] == [(0, (0, 1, 2, 3, 4, 5))]
    assert [p.group for p in results.participants] == [0] * 6 + [None] * 4
    # One reported group: nothing to set apart, so nothing divisive.
    assert results.divisive == ()


def test_with_one_group_shown_consensus_is_over_everyone_grouped_and_nothing_is_divisive() -> None:
    # Camp A (0-4) agrees with all four statements; camps B (5-8) and C (9-12), four each, are too small
    # to show with min_cell_size 5. Three distinct points: k = 3 has silhouette 1 and wins.
    # Over the one shown group, every statement would be "most agree" ((5 + 1) / (5 + 2) = 6/7 each).
    # Over everyone grouped (13): 10 and 13 have 5 agrees, (5 + 1) / (13 + 2) = 0.4, below one half;
    # 11 and 12 have 9, 10/15 = 0.667: the only consensus.
    votes = []
    camps = {range(0, 5): (1, 1, 1, 1), range(5, 9): (-1, 1, -1, 0), range(9, 13): (-1, -1, 1, -1)}
    for members, leaning in camps.items():
        votes += [(participant, s, v) for participant in members for s, v in zip(STATEMENTS, leaning, strict=True)]
    results = compute(votes, STATEMENTS, min_cell_size=5)

    assert results is not None
    assert [(group.id, group.members) for group in results.groups] == [(0, (0, 1, 2, 3, 4))]
    assert [(c.statement, c.group_informed_consensus) for c in results.consensus] == [
        (11, pytest.approx(10 / 15)),
        (12, pytest.approx(10 / 15)),
    ]
    assert results.divisive == ()


def test_fewer_participants_than_the_cell_size_give_no_results() -> None:
    assert compute(two_camps(), STATEMENTS, min_cell_size=11) is None
    assert compute([], STATEMENTS, min_cell_size=1) is None


def test_participants_who_all_vote_alike_form_no_groups() -> None:
    votes = [(participant, statement, 1) for participant in range(8) for statement in STATEMENTS]
    results = compute(votes, STATEMENTS, min_cell_size=3)

    assert results is not None
    assert results.groups == ()
    assert all(p.group is None for p in results.participants)
    assert [c.statement for c in results.consensus] == STATEMENTS


@pytest.mark.parametrize(
    ("votes", "statements", "min_cell_size", "message"),
    [
        ([(0, 10, 2)], STATEMENTS, 1, "vote 2 is not"),
        ([(0, 99, 1)], STATEMENTS, 1, "statement 99 is not in the round"),
        ([(0, 10, 1), (0, 10, -1)], STATEMENTS, 1, "participant 0 voted twice on statement 10"),
        ([(0, 10, 1)], [10, 10], 1, "listed twice"),
        ([(0, 10, 1)], STATEMENTS, 0, "min_cell_size must be at least 1"),
        ([(0, 10, -2)], STATEMENTS, 5, "vote -2 is not"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(
    votes: list[tuple[int, int, int]], statements: list[int], min_cell_size: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        compute(votes, statements, min_cell_size=min_cell_size)


def planted(
    participants: int = 300, statements: int = 40, seed: int = 7, noise: float = 0.1
) -> list[tuple[int, int, int]]:
    """Votes from three planted opinion groups (sizes 5:3:2), each participant voting on a random 30 of
    the statements as their group leans, a `noise` share of votes random."""
    rng = np.random.default_rng(seed)
    leanings = rng.choice([-1, 0, 1], size=(3, statements), p=[0.4, 0.2, 0.4])
    groups = rng.choice(3, size=participants, p=[0.5, 0.3, 0.2])
    votes = []
    for participant in range(participants):
        for statement in rng.choice(statements, size=30, replace=False).tolist():
            vote = int(leanings[groups[participant], statement])
            if rng.random() < noise:
                vote = int(rng.choice([-1, 0, 1]))
            votes.append((participant, statement, vote))
    return votes


def red_dwarf(votes: list[tuple[int, int, int]]) -> Any:
    """red-dwarf's Pol.is pipeline on the votes, seeded; its own warnings (pydantic, pandas deprecations
    inside red-dwarf) are about red-dwarf, not about us."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from reddwarf.implementations.polis import run_pipeline

        return run_pipeline(
            votes=[{"participant_id": p, "statement_id": s, "vote": v, "modified": 0} for p, s, v in votes],
            random_state=0,
        )


def test_planted_groups_match_red_dwarf() -> None:
    votes = planted()
    results = compute(votes, list(range(40)), min_cell_size=5)
    reference = red_dwarf(votes)

    assert results is not None
    labels = reference.participants_df["cluster_id"]
    reference_groups = sorted(
        (tuple(sorted(int(p) for p in labels.index[labels == label])) for label in set(labels.dropna())),
        key=lambda members: (-len(members), members[0]),
    )
    assert len(results.groups) == len(reference_groups) == 3
    # Same partition up to labels: each of our groups mostly overlaps one reference group; a few noisy
    # participants may land elsewhere.
    matched = [max(reference_groups, key=lambda ref: len(set(ref) & set(group.members))) for group in results.groups]
    assert len(set(matched)) == 3
    moved = sum(len(set(group.members) ^ set(ref)) for group, ref in zip(results.groups, matched, strict=True))
    assert moved <= 6
    # Representative statements: the same statements and directions, for the matching group.
    reference_label = {ref: int(labels[ref[0]]) for ref in reference_groups}
    for group, ref in zip(results.groups, matched, strict=True):
        ours = {(r.statement, r.direction) for r in group.representative}
        theirs = {(r["tid"], r["repful-for"]) for r in reference.repness[reference_label[ref]]}
        assert len(ours & theirs) >= 4, (group.id, ours, theirs)
    # Consensus: our top statements are red-dwarf's top by group-aware consensus.
    gac = reference.statements_df["group-aware-consensus-agree"]
    theirs = [int(s) for s in gac.sort_values(ascending=False, kind="stable").index[: len(results.consensus)]]
    assert [c.statement for c in results.consensus] == theirs
    for consensus in results.consensus:
        assert consensus.group_informed_consensus == pytest.approx(gac[consensus.statement], rel=0.05)
    # The map: the same coordinates up to each axis' sign.
    ours_xy = np.array([(p.x, p.y) for p in results.participants])
    theirs_xy = np.array([reference.participant_projections[p.participant] for p in results.participants])
    for axis in range(2):
        sign = np.sign(ours_xy[:, axis] @ theirs_xy[:, axis])
        np.testing.assert_allclose(ours_xy[:, axis], sign * theirs_xy[:, axis], atol=1e-6)


def test_the_same_votes_give_the_same_results_twice() -> None:
    votes = planted(participants=120, seed=3)
    first = compute(votes, list(range(40)), min_cell_size=5)
    second = compute(list(reversed(votes)), list(range(40)), min_cell_size=5)

    assert isinstance(first, Results)
    assert first == second
