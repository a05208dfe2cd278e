from pipeline.tasks.hidden_params.bands import Band, worst_bands

NEUTRAL = (50,) * 6


def test_it_picks_the_cells_with_the_largest_mean_error():
    # energy targets near 90 predicted as 50 (error 40); warmth targets near 10 predicted 50 (error 40 - 2);
    # everything else predicted exactly.
    pairs = []
    for i in range(5):
        pairs.append(((90 + i, 50, 50, 50, 50, 50), NEUTRAL))
        pairs.append(((50, 12 + i, 50, 50, 50, 50), NEUTRAL))
        pairs.append(((50, 50, 50, 50, 50, 50), NEUTRAL))
    assert worst_bands(pairs, k=2) == [Band("energy", 80, 100, 0.3), Band("warmth", 0, 19, 0.3)]


def test_cells_with_too_few_examples_are_ignored():
    pairs = [((100, 50, 50, 50, 50, 50), (0, 50, 50, 50, 50, 50))] + [((30, 50, 50, 50, 50, 50), (40, 50, 50, 50, 50, 50))] * 3
    assert worst_bands(pairs, k=1) == [Band("energy", 20, 39, 0.3)]
