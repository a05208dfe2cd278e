"""Done-when of the walking skeleton: 10,000 generated pairs through the filters and the split."""

from collections import Counter

import pytest

from pipeline.tasks.hidden_params import AXES
from pipeline.tasks.hidden_params.bands import Band
from pipeline.tasks.hidden_params.clean import quality_filter
from pipeline.tasks.hidden_params.generate import generate_pairs
from pipeline.tasks.hidden_params.split import split_rows, split_stats
from pipeline.tasks.text import normalise
from tests.unit.test_teachers import independent_leak

N = 10_000


@pytest.fixture(scope="module")
def filtered():
    rows = generate_pairs(N, seed=2026, language="mixed")
    return rows, quality_filter(rows)


def test_under_one_percent_exact_duplicates_are_generated(filtered):
    rows, _ = filtered
    counts = Counter(normalise(row["request_text"]) for row in rows)
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates / N < 0.01


def test_nothing_that_leaks_survives_the_filters(filtered):
    _, result = filtered
    assert len(result.kept) >= 0.97 * N  # the filters keep nearly all template rows
    leaks = [(row["request_text"], hit) for row in result.kept if (hit := independent_leak(row["request_text"], row["language"]))]
    assert leaks == []
    kept_keys = [normalise(row["request_text"]) for row in result.kept]
    assert len(kept_keys) == len(set(kept_keys))


def test_split_histograms_are_roughly_uniform(filtered):
    _, result = filtered
    stats = split_stats(split_rows(result.kept, seed=0), result.report)
    total = stats["counts"]["total"]
    for axis in AXES:
        counts = stats["histograms"]["all"][axis]
        # 0-100 has 101 values: nine bins of 10 values and a last bin of 11.
        expected = [total * 10 / 101] * 9 + [total * 11 / 101]
        for bin_index, (seen, want) in enumerate(zip(counts, expected)):
            assert abs(seen - want) / want < 0.15, f"{axis} bin {bin_index}: {seen} vs {want:.0f}"


def test_oversampled_bands_get_more_rows():
    rows = generate_pairs(2000, seed=5, language="en", oversample=[Band("energy", 0, 20, 0.5)])
    low = sum(1 for row in rows if row["target"]["energy"] <= 20)
    assert low / len(rows) > 0.55  # uniform would give about 0.21
    uniform_warmth_low = sum(1 for row in rows if row["target"]["warmth"] <= 20) / len(rows)
    assert 0.15 < uniform_warmth_low < 0.27


def test_band_specs_are_validated():
    assert Band.parse("energy:0-20:0.3") == Band("energy", 0, 20, 0.3)
    with pytest.raises(ValueError, match="unknown axis"):
        Band.parse("tempo:0-20:0.3")
    with pytest.raises(ValueError, match="expected axis:low-high:share"):
        Band.parse("energy-0-20")
